import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveName, archivePreviousRun, dropArchive, HISTORY_DIR } from '../../../src/data/runArchive';

test("archiveName: the report's time without colons, then the objective made safe for a file name", () => {
  assert.equal(archiveName(new Date('2026-12-06T19:23:45.123Z'), 'minRecall'), '2026-12-06T19-23-45Z-minRecall');
  assert.equal(
    archiveName(new Date('2026-12-06T19:23:45Z'), 'my objective/../x'),
    '2026-12-06T19-23-45Z-my-objective-..-x',
  );
  assert.equal(archiveName(new Date('2026-12-06T19:23:45Z'), ''), '2026-12-06T19-23-45Z');
});

test("an earlier run's report files are copied to the history (the model files are not); nothing happens without a report", () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-archive-'));
  try {
    assert.equal(archivePreviousRun(dir), null);
    const write = (objective: string, when: string) => {
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ summary: { objective } }));
      writeFileSync(join(dir, 'gain.npy'), objective);
      writeFileSync(join(dir, 'W.npy'), 'w');
      utimesSync(join(dir, 'report.json'), new Date(when), new Date(when));
    };
    write('minRecall', '2026-12-06T10:00:00Z');
    const a = archivePreviousRun(dir)!;
    assert.equal(a, join(dir, HISTORY_DIR, '2026-12-06T10-00-00Z-minRecall'));
    assert.deepEqual(readdirSync(a).sort(), ['gain.npy', 'report.json']);
    assert.ok(
      existsSync(join(dir, 'report.json')) && !existsSync(join(a, 'W.npy')),
      'copied, not moved: the folder is intact until the new report commits',
    );
    dropArchive(a);
    assert.ok(!existsSync(join(dir, HISTORY_DIR)), 'dropping the only archived run removes the history folder too');
    archivePreviousRun(dir);
    // The same time and objective again (a copied folder): a second folder, never an overwrite.
    write('minRecall', '2026-12-06T10:00:00Z');
    const b = archivePreviousRun(dir)!;
    assert.equal(b, `${a}-2`);
    write('gMean', '2026-12-06T11:00:00Z');
    archivePreviousRun(dir);
    assert.deepEqual(readdirSync(join(dir, HISTORY_DIR)).sort(), [
      '2026-12-06T10-00-00Z-minRecall',
      '2026-12-06T10-00-00Z-minRecall-2',
      '2026-12-06T11-00-00Z-gMean',
    ]);
    assert.equal(readFileSync(join(dir, HISTORY_DIR, '2026-12-06T11-00-00Z-gMean', 'gain.npy'), 'utf8'), 'gMean');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
