// selmix.teacher "ema" through the surfaces a user has: the extension's path (the bundled worker in a RunSession, its
// events folded by the ViewFeed into the snapshot the dashboard draws, report.html rendered from report.json as the
// "Show report" command does) and the CLI. A head-only linear job with an unlabeled set; the Mean Teacher labels it and
// every surface says so, with how many unlabeled examples passed the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../src/data/npy';
import { Rng } from '../../src/core/numerics/rng';
import { RunSession } from '../../src/extension/runSession';
import { ViewFeed } from '../../src/extension/viewFeed';
import { pseudoLabelLine } from '../../src/protocol/pseudoLabels';
import { writeReportHtml } from '../../src/report/reportPage';
import { clusterSet } from '../helpers/synthetic';
import { privateBundles, runCli, smallJob } from '../helpers/reliability';

/** The small job with 100 unlabeled examples (their labels never written) and the Mean Teacher. */
function teacherJob(output: string): { dir: string; configPath: string } {
  const job = smallJob({ steps: 100 }, { selmix: { teacher: 'ema', teacherDecay: 0.95, pseudoLabelThreshold: 0.5 } });
  const un = clusterSet([20, 20, 20, 20, 20], 8, new Rng(9), 1.5);
  writeFileSync(join(job.dir, 'unlabeled_x.npy'), encodeNpy(un.x, [un.n, 8]));
  const data = job.config.data as Record<string, unknown>;
  const config = { ...job.config, data: { ...data, unlabeled: { features: 'unlabeled_x.npy' } }, output };
  writeFileSync(job.configPath, JSON.stringify(config, null, 2));
  return { dir: job.dir, configPath: job.configPath };
}

test(
  'selmix.teacher "ema" from the extension (worker, dashboard snapshot, report.html) and from the CLI',
  { timeout: 300_000 },
  async () => {
    const job = teacherJob('out');
    const feed = new ViewFeed({ updatesPerSecond: 10 });
    const logs: string[] = [];
    const session = new RunSession({
      workerPath: join(privateBundles(), 'worker.js'),
      request: {
        type: 'worker/start',
        request: { configText: readFileSync(job.configPath, 'utf8'), configPath: job.configPath },
        backend: 'cpu',
      },
      onEvent: (e) => feed.push(e),
      log: (l) => logs.push(l),
    });
    const end = await session.done;
    assert.equal(end.type, 'run/finished', JSON.stringify(end.payload));
    // What the dashboard is drawn from: the feed's snapshot (and the compacted one a new view starts with).
    for (const snap of [feed.snapshot, feed.bootstrapSnapshot()]) {
      const pl = snap.finished?.pseudoLabels;
      assert.ok(pl, 'the finished run carries its pseudo-labels');
      assert.equal(pl.source, 'ema');
      assert.equal(pl.decay, 0.95);
      assert.equal(pl.threshold, 0.5);
      assert.equal(pl.total, 100);
      assert.equal(pl.step, 100, 'the final refresh');
      assert.ok(pl.passed > 0 && pl.passed <= 100, JSON.stringify(pl));
    }
    const pl = feed.snapshot.finished!.pseudoLabels!;
    assert.ok(
      (feed.snapshot.logs ?? []).some((l) => l.message === pseudoLabelLine(pl)),
      'the run log the dashboard lists has the line',
    );
    const reportPath = join(job.dir, 'out', 'report.json');
    assert.deepEqual(JSON.parse(readFileSync(reportPath, 'utf8')).summary.pseudoLabels, pl);
    const { html } = writeReportHtml(reportPath);
    assert.ok(html.includes(`<p id="pseudo-labels">${pseudoLabelLine(pl)}.</p>`), 'report.html says it under Results');

    // The CLI on the same job: the same line in its output, the same pseudo-labels (a seeded run repeats itself).
    const cli = teacherJob('cli-out');
    const r = await runCli(['finetune', '--config', cli.configPath, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((r.stdout + r.stderr).includes(pseudoLabelLine(pl)), `${r.stdout}\n${r.stderr}`);
  },
);
