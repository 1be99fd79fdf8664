// The bad-input corpus through the engine's entry point, runConfig (what the worker and the CLI call): every
// case ends in exactly one terminal event, a run/failed of the right kind whose message names the file,
// field and line, and leaves its folder as it was.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES, configPathOf, materialize } from '../corpus/corpus';
import { assertFragments, treeDiff, treeHashes } from '../helpers/reliability';
import { runConfig } from '../helpers/run';
import { initBackend } from '../../src/backend/backend';
import type { RunEvent } from '../../src/protocol/messages';

let dirs = new Map<string, string>();

before(async () => {
  await initBackend({ choice: 'cpu' });
  dirs = materialize(mkdtempSync(join(tmpdir(), 'selmix-corpus-engine-')));
});

describe('bad-input corpus through runConfig', () => {
  for (const c of CASES) {
    const expect = c.engine;
    if (!expect) continue;
    it(`${c.id}: ${c.what}`, { timeout: 120_000 }, async () => {
      const dir = dirs.get(c.id)!;
      const cfgPath = configPathOf(dir);
      const events: RunEvent[] = [];
      const beforeTree = treeHashes(dir);
      const r = await runConfig(readFileSync(cfgPath, 'utf8'), cfgPath, {
        emit: (e) => events.push(e),
        shouldStop: () => false,
        backend: 'cpu',
      });
      const terminal = events.filter((e) => e.type === 'run/failed' || e.type === 'run/finished');
      assert.equal(terminal.length, 1, `one terminal event, got ${events.map((e) => e.type).join(', ')}`);
      assert.equal(events[events.length - 1], terminal[0], 'the terminal event is the last one');
      if (expect.ok) {
        assert.ok(r.ok, r.ok ? '' : r.message);
        assert.equal(terminal[0]!.type, 'run/finished');
        expect.check(dir);
        assert.deepEqual(
          treeDiff(beforeTree, treeHashes(dir), (rel) => rel.startsWith('out/') || rel.startsWith('.selmix-cache/')),
          [],
          'inputs untouched',
        );
        return;
      }
      assert.ok(!r.ok, 'the run must fail');
      const failed = terminal[0]!;
      assert.equal(failed.type, 'run/failed');
      if (failed.type !== 'run/failed') return;
      assert.equal(failed.payload.kind, expect.kind, failed.payload.message);
      assert.equal(r.kind, expect.kind);
      assertFragments(failed.payload.message, expect.message, dir, 'run/failed message');
      assert.ok(!events.some((e) => e.type === 'run/started'), 'bad input is caught before the run starts');
      if (expect.kind === 'config') {
        // The details list (for the editor's diagnostics) has one line per issue, each with its JSON path.
        assert.ok(failed.payload.details && failed.payload.details.length > 0, 'config failures carry details');
      }
      assert.deepEqual(treeDiff(beforeTree, treeHashes(dir)), [], 'the case folder is unchanged');
    });
  }
});
