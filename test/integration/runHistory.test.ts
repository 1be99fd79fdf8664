// Re-running a config never loses a run: the earlier run's report moves to <output>/.selmix-history, and the run
// history's listing and curves name each run's objective, temperature, lr and what it trained.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runConfig } from '../helpers/run';
import { initBackend } from '../../src/backend/backend';
import type { RunEvent } from '../../src/protocol/messages';
import { reportCurve, reportListing } from '../../src/report/report';
import { HISTORY_DIR } from '../../src/data/runArchive';
import { smallJob } from '../helpers/reliability';

before(async () => {
  await initBackend({ choice: 'cpu' });
});

test('the same config run twice with different objectives leaves both runs, each named by its objective', async () => {
  const j = smallJob({ steps: 50 });
  try {
    const text = readFileSync(j.configPath, 'utf8');
    for (const objective of ['minRecall', 'gMean']) {
      const events: RunEvent[] = [];
      const r = await runConfig(text, j.configPath, {
        emit: (e) => events.push(e),
        shouldStop: () => false,
        backend: 'cpu',
        overrides: { objective, temperature: 5 },
      });
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.equal(events[0]?.type, 'run/stage', 'a run is announced by its first stage before anything loads');
      const started = events.find((e) => e.type === 'run/started');
      assert.ok(started?.type === 'run/started');
      assert.equal(started.payload.name, 'reliability · s = 5', 'a run with a temperature override is named by it');
      assert.equal(started.payload.trains, 'head');
    }
    const out = join(j.dir, 'out');
    const archived = readdirSync(join(out, HISTORY_DIR));
    assert.equal(archived.length, 1);
    assert.match(archived[0]!, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-minRecall$/);
    const reports = [join(out, 'report.json'), join(out, HISTORY_DIR, archived[0]!, 'report.json')];
    const listings = reports.map((p) =>
      reportListing(p, JSON.parse(readFileSync(p, 'utf8')), new Date().toISOString())!,
    );
    assert.deepEqual(
      listings.map((l) => l.objective),
      ['gMean', 'minRecall'],
    );
    assert.deepEqual(
      listings.map((l) => [l.temperature, l.lr, l.trains, l.archived ?? false]),
      [
        [5, 0.01, 'head', false],
        [5, 0.01, 'head', true],
      ],
    );
    const curves = reports.map((p) => reportCurve(p, JSON.parse(readFileSync(p, 'utf8')))!);
    for (const c of curves) {
      assert.ok(c.steps.length >= 2);
      for (const m of ['minRecall', 'gMean', 'hMean', 'accuracy', 'meanRecall', 'objective'] as const) {
        assert.equal(c.series[m].length, c.steps.length);
        assert.ok(c.series[m].every(Number.isFinite), `${m} at every refresh`);
      }
    }
    assert.deepEqual(
      curves[1]!.series.objective,
      curves[1]!.series.minRecall,
      "the minRecall run's objective is its min recall",
    );
    assert.deepEqual(curves[0]!.series.objective, curves[0]!.series.gMean, "the gMean run's objective is its G-mean");
  } finally {
    rmSync(j.dir, { recursive: true, force: true });
  }
});
