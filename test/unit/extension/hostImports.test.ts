// The extension host bundle stays light: following every import from src/extension/extension.ts reaches no
// package that loads native code or tfjs (docs/ARCHITECTURE.md, "Layers").
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');

/** Every module reachable from entry: relative files (resolved to .ts) and bare package names. */
function reachable(entry: string): { files: string[]; packages: Set<string> } {
  const files: string[] = [];
  const packages = new Set<string>();
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    files.push(relative(root, f));
    const src = readFileSync(f, 'utf8');
    // Type-only imports vanish from the bundle.
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\bfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) {
        packages.add(spec);
        continue;
      }
      const base = resolve(dirname(f), spec);
      const file = [`${base}.ts`, join(base, 'index.ts'), base].find((p) => existsSync(p) && p.endsWith('.ts'));
      assert.ok(file, `${relative(root, f)} imports ${spec}, which does not resolve`);
      stack.push(file);
    }
  }
  return { files, packages };
}

test('the extension host bundle reaches no tfjs, ONNX Runtime or sharp package, through any chain of imports', () => {
  // Lint fences say which folders src/extension may import (eslint.config.mjs); this follows the imports transitively,
  // which lint does not, so a fenced-in folder that later imports training code is caught too.
  const { files, packages } = reachable(join(root, 'src/extension/extension.ts'));
  assert.deepEqual(
    [...packages].filter((p) => p.startsWith('@tensorflow/') || p === 'onnxruntime-node' || p === 'sharp'),
    [],
  );
  assert.ok(
    files.includes('src/request/prepare.ts') && files.includes('src/report/report.ts'),
    'the walk follows imports',
  );
});
