// The extension's temperature sweep without VS Code: the input box's values, the host's loop over runs
// (sequencing, failure, Stop) with a fake session, each run's request (sweepRequest), and the outputs it
// shares with `selmix sweep`.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../../src/core/config';
import { DEMO_CONFIG, demoConfigText } from '../../../src/request/demo';
import { DEFAULT_SWEEP_VALUES, parseSweepInput, runSweepLoop } from '../../../src/extension/sweepLoop';
import type { TerminalEvent } from '../../../src/extension/runSession';
import type { MetricsReport, RunFinishedPayload, RunRequest } from '../../../src/protocol/messages';
import { prepareRun } from '../../../src/request/prepare';
import { sweepOutputDir, sweepRequest, sweepRow, writeSweepOutputs } from '../../../src/report/sweep';

function metrics(r: number): MetricsReport {
  return {
    accuracy: r,
    meanRecall: r,
    minRecall: r / 2,
    maxRecall: r,
    gMean: r,
    hMean: r,
    headRecall: r,
    tailRecall: r,
    minHeadTailRecall: r,
    minCoverage: 0,
    headCoverage: 0,
    tailCoverage: 0,
    recall: [r, r],
    coverage: [0.5, 0.5],
    support: [5, 5],
  };
}
function finished(s: number, stoppedBy: RunFinishedPayload['stoppedBy'] = 'steps'): TerminalEvent {
  return {
    type: 'run/finished',
    payload: {
      runId: `r${s}`,
      outputDir: `/o/sweep-s${s}`,
      reportPath: `/o/sweep-s${s}/report.json`,
      stoppedBy,
      steps: 40,
      objective: 'minRecall',
      before: { objectiveValue: 0.1, val: metrics(0.2) },
      after: { objectiveValue: 0.1 + s / 1000, val: metrics(0.3) },
      bestStep: 40,
      wallSeconds: 1,
    },
  };
}

test('the input box takes positive numbers separated by commas and says what is wrong otherwise', () => {
  assert.deepEqual(parseSweepInput(DEFAULT_SWEEP_VALUES), { values: [0.1, 1, 10, 100] });
  assert.deepEqual(parseSweepInput(' 2 , 1e1,, '), { values: [2, 10] });
  for (const [text, why] of [
    ['', /no values/],
    ['1,x', /"x" is not a positive number/],
    ['0', /"0" is not a positive number/],
    ['-1', /"-1"/],
    ['1,Infinity', /"Infinity"/],
    ['1,1', /listed twice/],
  ] as const) {
    const r = parseSweepInput(text);
    assert.ok('error' in r, text);
    assert.match(r.error, why);
    if (!/twice/.test(r.error)) assert.match(r.error, /e\.g\. 0\.1,1,10,100/, 'the message shows the expected form');
  }
});

/** A run as the controller sees it: finishes after a few ticks, or at the next tick once stopped (like RunSession). */
class FakeSession {
  private stopped = false;
  readonly done: Promise<TerminalEvent>;
  constructor(
    readonly s: number,
    ticks: number,
    fail = false,
  ) {
    this.done = (async () => {
      for (let t = 0; t < ticks && !this.stopped; t++) await new Promise((r) => setImmediate(r));
      if (fail)
        return { type: 'run/failed', payload: { message: `boom at s=${s}`, kind: 'training' } } as TerminalEvent;
      return finished(s, this.stopped ? 'cancel' : 'steps');
    })();
  }
  stop(): void {
    this.stopped = true;
  }
}

test('the loop runs one value after the other and collects every finished run', async () => {
  const log: string[] = [];
  let current: FakeSession | null = null;
  const r = await runSweepLoop(
    [0.1, 1, 10],
    async (s, i) => {
      assert.equal(current, null, 'one run at a time');
      log.push(`start ${i}:${s}`);
      current = new FakeSession(s, 3);
      const end = await current.done;
      current = null;
      log.push(`end ${s}`);
      return end;
    },
    () => false,
  );
  assert.equal(r.outcome, 'done');
  assert.deepEqual(log, ['start 0:0.1', 'end 0.1', 'start 1:1', 'end 1', 'start 2:10', 'end 10']);
  assert.deepEqual(
    r.completed.map((c) => c.s),
    [0.1, 1, 10],
  );
});

test('Stop during a run ends the sweep: that run is not counted and no later value starts', async () => {
  const sweep = { stopped: false };
  let current: FakeSession | null = null;
  const started: number[] = [];
  const loop = runSweepLoop(
    [1, 2, 3],
    async (s) => {
      started.push(s);
      current = new FakeSession(s, s === 2 ? 1000 : 2);
      return current.done;
    },
    () => sweep.stopped,
  );
  while (started.length < 2) await new Promise((r) => setImmediate(r));
  // What RunController.stop does: mark the sweep stopped, then stop the run in progress.
  sweep.stopped = true;
  current!.stop();
  const r = await loop;
  assert.equal(r.outcome, 'stopped');
  assert.deepEqual(started, [1, 2]);
  assert.deepEqual(
    r.completed.map((c) => c.s),
    [1],
  );
});

test('Stop between two runs ends the sweep before the next one starts', async () => {
  const sweep = { stopped: false };
  const started: number[] = [];
  const r = await runSweepLoop(
    [1, 2],
    async (s) => {
      started.push(s);
      const end = await new FakeSession(s, 1).done;
      sweep.stopped = true; // pressed after this run finished, before the next started
      return end;
    },
    () => sweep.stopped,
  );
  assert.equal(r.outcome, 'stopped');
  assert.deepEqual(started, [1]);
  assert.deepEqual(
    r.completed.map((c) => c.s),
    [1],
  );
});

test('a failed run, or one that could not start, ends the sweep with the value and the reason', async () => {
  const started: number[] = [];
  const r = await runSweepLoop(
    [1, 2, 3],
    async (s) => {
      started.push(s);
      return new FakeSession(s, 1, s === 2).done;
    },
    () => false,
  );
  assert.equal(r.outcome, 'failed');
  assert.deepEqual(r.failure, { s: 2, message: 'boom at s=2' });
  assert.deepEqual(started, [1, 2]);
  assert.deepEqual(
    r.completed.map((c) => c.s),
    [1],
  );
  const n = await runSweepLoop(
    [5],
    async () => null,
    () => false,
  );
  assert.equal(n.outcome, 'failed');
  assert.equal(n.failure?.s, 5);
});

test("each run of the sweep sends the config's own text, with its temperature and output folder as overrides", () => {
  const base: RunRequest = {
    configText: demoConfigText(),
    configPath: '/ws/selmix-demo/demo.selmix.json',
    overrides: { steps: 20 },
  };
  const r = sweepRequest(base, '/ws/selmix-demo', 10);
  assert.equal(r.configText, base.configText, 'the text is untouched, so problems keep their lines');
  assert.equal(r.configPath, base.configPath);
  assert.deepEqual(r.overrides, { steps: 20, temperature: 10, output: sweepOutputDir('/ws/selmix-demo', 10) });
  const p = prepareRun(r, { exists: () => true });
  assert.deepEqual(p.issues, []);
  assert.equal(p.config?.selmix.temperature, 10);
  assert.equal(p.outputDir, '/ws/selmix-demo/sweep-s10');
  assert.deepEqual(base.overrides, { steps: 20 }, 'the base request is not changed');
});

test("the sweep outputs are the CLI's: sweep.md, sweep.json and sweep.svg with one row per finished value", () => {
  const base = mkdtempSync(join(tmpdir(), 'selmix-sweep-'));
  const cfg = parseConfig(JSON.stringify(DEMO_CONFIG), 'x.selmix.json');
  const rows = [0.1, 10].map((s) =>
    sweepRow(
      cfg,
      s,
      (finished(s) as Extract<TerminalEvent, { type: 'run/finished' }>).payload,
      sweepOutputDir(base, s),
    ),
  );
  const { mdPath, markdown } = writeSweepOutputs(base, 'minRecall', rows);
  assert.equal(mdPath, join(base, 'sweep.md'));
  assert.equal(readFileSync(mdPath, 'utf8'), markdown);
  assert.match(markdown, /^\| s \| minRecall before \(val\) \|/);
  assert.match(markdown, /\| 10 \| 0\.1000 \| 0\.1100 \| 0\.3000 \| 0\.1500 \| - \|/);
  const json = JSON.parse(readFileSync(join(base, 'sweep.json'), 'utf8')) as {
    objective: string;
    rows: { s: number; outputDir: string }[];
  };
  assert.deepEqual(
    json.rows.map((r) => r.s),
    [0.1, 10],
  );
  assert.equal(json.rows[0]!.outputDir, join(base, 'sweep-s0.1'));
  assert.ok(existsSync(join(base, 'sweep.svg')));
});

test("a sweep row's test value is the run's objective on test, a custom objective's too", () => {
  const cfg = parseConfig(JSON.stringify({ ...DEMO_CONFIG, customObjective: { expression: 'min(recall)' } }), 'x.json');
  const p = (finished(10) as Extract<TerminalEvent, { type: 'run/finished' }>).payload;
  const test = { ...p.after.val, recall: [0.5, 0.25, ...p.after.val.recall.slice(2)] };
  const withTest = { ...p, after: { ...p.after, test } };
  assert.equal(sweepRow(cfg, 10, withTest, '/o').testObjectiveAfter, Math.min(...test.recall));
  const given = { ...withTest, after: { ...withTest.after, testObjectiveValue: 0.123 } };
  assert.equal(sweepRow(cfg, 10, given, '/o').testObjectiveAfter, 0.123);
});
