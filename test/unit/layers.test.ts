// The layer fences of eslint.config.mjs (docs/ARCHITECTURE.md) reject an import that crosses the layers and
// accept one that follows them: linted as if the snippet were a file in that folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

/** The no-restricted-imports messages for one import line in a file at path (relative to the repository). */
async function fenceErrors(path: string, from: string): Promise<string[]> {
  const [r] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, {
    filePath: join(root, path),
  });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const crossing: [string, string][] = [
  ['src/protocol/fake.ts', '../core/config'],
  ['src/core/fake.ts', '../run/run'],
  ['src/core/fake.ts', '../data/npy'],
  ['src/core/fake.ts', 'node:fs'],
  ['src/data/fake.ts', '../backend/backend'],
  ['src/backend/fake.ts', '../data/npy'],
  ['src/data/fake.ts', '../run/prepare'],
  ['src/run/fake.ts', '../worker/worker'],
  ['src/run/fake.ts', '../cli/main'],
  ['src/run/fake.ts', 'vscode'],
  ['src/worker/fake.ts', '../cli/main'],
  ['src/cli/fake.ts', '../extension/extension'],
  ['src/extension/fake.ts', '../worker/worker'],
  ['webview/fake.ts', '../src/core/config'],
  ['src/formats/onnx/fake.ts', '../../core/errors'],
  ['src/formats/onnx/fake.ts', 'node:fs'],
  ['src/core/fake.ts', '../formats/onnx/proto'],
  ['src/report/fake.ts', '../run/run'],
  ['src/core/fake.ts', '../report/reportHtml'],
];

for (const [path, from] of crossing) {
  test(`lint rejects ${from} in ${path}`, async () => {
    assert.ok((await fenceErrors(path, from)).length > 0, `${path} may not import ${from}`);
  });
}

const following: [string, string][] = [
  ['src/core/fake.ts', '../protocol/messages'],
  ['src/data/fake.ts', '../core/errors'],
  ['src/run/fake.ts', '../data/npy'],
  ['src/run/fake.ts', '../backend/backend'],
  ['src/cli/fake.ts', '../run/run'],
  ['src/extension/fake.ts', '../request/prepare'],
  ['src/extension/fake.ts', '../report/reportHtml'],
  ['src/extension/fake.ts', '../core/config'],
  ['src/run/fake.ts', '../request/prepare'],
  ['src/report/fake.ts', '../data/npy'],
  ['src/core/training/fake.ts', '../numerics/gain'],
  ['src/extension/fake.ts', 'vscode'],
  ['webview/fake.ts', '../src/protocol/messages'],
  ['src/data/fake.ts', '../formats/onnx/proto'],
  ['src/backend/fake.ts', '../formats/onnx/proto'],
  ['src/report/fake.ts', '../protocol/messages'],
  ['src/run/fake.ts', '../report/reportHtml'],
  ['src/cli/fake.ts', '../report/reportHtml'],
  ['src/extension/fake.ts', '../report/reportHtml'],
];

for (const [path, from] of following) {
  test(`lint accepts ${from} in ${path}`, async () => {
    assert.deepEqual(await fenceErrors(path, from), []);
  });
}
