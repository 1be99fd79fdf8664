// Every case of the bad-input corpus (test/corpus/corpus.ts) through the built CLI: exit code 2, stderr that
// names the file, the JSON path and the line, no output written and no input touched.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES, fill, materialize } from '../corpus/corpus';
import { assertFragments, privateBundles, runCli, treeDiff, treeHashes } from '../helpers/reliability';

let dirs = new Map<string, string>();

before(() => {
  privateBundles();
  dirs = materialize(mkdtempSync(join(tmpdir(), 'selmix-corpus-')));
});

describe('bad-input corpus through the selmix CLI', { concurrency: 3 }, () => {
  it('has at least 50 cases covering every group', () => {
    assert.ok(CASES.length >= 50, `${CASES.length} cases`);
    assert.deepEqual([...new Set(CASES.map((c) => c.group))].sort(), [
      'config',
      'images',
      'labels',
      'model',
      'npy',
      'output',
    ]);
    assert.equal(new Set(CASES.map((c) => c.id)).size, CASES.length, 'case ids are unique');
  });
  for (const c of CASES) {
    it(`${c.id}: ${c.what}`, { timeout: 120_000 }, async () => {
      const dir = dirs.get(c.id)!;
      // Runs of a case go in order: a successful finetune writes the outputs a later eval may read.
      for (const run of c.cli) {
        const argv = run.argv.map((a) => fill(a, dir));
        const before = treeHashes(dir);
        const r = await runCli(argv);
        const what = `selmix ${argv.join(' ')}`;
        assert.equal(r.code, run.exit, `${what}: exit ${r.code}, want ${run.exit}\n${r.stderr}`);
        assertFragments(r.stderr, run.stderr, dir, `${what}: stderr`);
        assert.doesNotMatch(
          r.stderr,
          /\n\s+at .*\(.*:\d+:\d+\)/,
          `${what}: a bad input must not print a stack trace:\n${r.stderr}`,
        );
        const after = treeHashes(dir);
        if (run.exit === 0) {
          // Inputs untouched; new files only in the output folder (and the ONNX feature cache beside the config).
          assert.deepEqual(
            treeDiff(before, after, (rel) => rel.startsWith('out/') || rel.startsWith('.selmix-cache/')),
            [],
            what,
          );
          run.check?.(dir, r.stdout);
        } else {
          assert.deepEqual(
            treeDiff(before, after),
            [],
            `${what}: the case folder changed (an output was written or an input modified)`,
          );
        }
      }
    });
  }
});
