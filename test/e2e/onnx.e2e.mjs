// ONNX in a real VS Code (code-server): the platform .vsix (selmix-linux-x64.vsix, with its ONNX Runtime binary in
// dist/node_modules) installed, a workspace holding a PyTorch-exported CNN (test/fixtures/onnx/cnn_bn_gap.onnx) and
// MNIST-LT PNG class folders (test/e2e/makeWorkspace.mjs <dir> onnx). "SelMix: Fine-tune" from the palette runs to
// the end; then on disk <output>/model.onnx exists and report.json says its logits check passed, and the dashboard
// names ONNX Runtime as the provider. Then the same model with onnx-whole.selmix.json (model.freezeBackbone left at
// its default, false): the whole network trains on ONNX Runtime; the dashboard says "whole network" and shows the time
// per step and a live stage line with the time left; the sidebar says "whole network" with the time per step;
// report.json says whole network and lists the trained tensors; model.onnx carries changed backbone initializers
// (decoded with src/formats/onnx, test/e2e/onnxInitializerDiff.ts) and unchanged BatchNorm statistics. Run by
// scripts/e2e.sh as its own code-server session.
// E2E_ONNX_UNIVERSAL=1 (a second session, selmix-universal.vsix installed: no ONNX Runtime inside): the same command
// fails with the data error naming the model file and saying ONNX Runtime is not available, and writes nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  harness,
  openFile as openFileOn,
  openWorkbench,
  pageTiming,
  describeStartSplit,
  reportTarget,
  runCommand,
  runConfigCommand,
  until as untilOn,
  showSidebar,
  webview,
} from './vscodeDriver.mjs';

const EXT = 'selmix.selmix-vscode';
const { lap, test, shot, finish } = harness('onnx-', () => page);
const WS = process.env.E2E_WS;
const { page, close } = await openWorkbench({ width: 1600, height: 1200 });
const dash = () => webview(page, { extensionId: EXT });
const until = (what, fn, timeout, every) => untilOn(page, what, fn, timeout, every);

/**
 * What the dashboard shows now: its run's status and name, the live stage line ('' while hidden), what the run trains
 * and its time per step.
 */
function dashboardFacts(wv) {
  return wv.locator('body').evaluate((b) => {
    const text = (id) => document.getElementById(id).textContent;
    const stage = document.getElementById('stage-line');
    return {
      status: b.dataset.status,
      name: text('run-name'),
      line: stage.hidden ? '' : stage.textContent,
      trains: text('trains'),
      ms: text('ms-per-step'),
    };
  });
}

/** A stage line without its count, ETA or detail: "extracting train features 20/409 (5 %)" -> its stage's name. */
const stageHead = (line) => line.replace(/ \d+\/\d+.*$|:.*$|….*$/, '');

/** A run status after which the dashboard shows no more change. */
const ended = (status) => status === 'finished' || status === 'failed' || status === 'stopped';

/** The initializers of two ONNX files compared by test/e2e/onnxInitializerDiff.ts: changed, same, onlyInOne. */
function initializerDiff(input, output) {
  const root = join(import.meta.dirname, '..', '..');
  const diff = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'e2e', 'onnxInitializerDiff.ts'), input, output],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(diff.status, 0, diff.stderr);
  return JSON.parse(diff.stdout);
}

try {
  lap('workbench loaded');
  // A user opens the SelMix sidebar, then a config, then runs it. The sidebar is this fresh browser profile's first
  // webview: in the first seconds after a window loads, VS Code takes seconds to show any webview, whichever command
  // opens it and whether or not a run starts with it (test/e2e/firstWebview.probe.mjs measures that). Printed here as
  // VS Code's part; the "Fine-tune" timings below start after it.
  const sidebarMs = await showSidebar(page, { label: 'SelMix', extensionId: EXT });
  lap(`  the SelMix sidebar (this browser profile's first webview) painted ${sidebarMs} ms after its click`);
  if (process.env.E2E_ONNX_UNIVERSAL === '1')
    await test('the universal package (no ONNX Runtime): Fine-tune on an ONNX model fails with a data error naming the file, and writes nothing', async () => {
      assert.ok(WS, 'E2E_WS is set');
      await openFileOn(page, 'onnx.selmix.json');
      const { asked } = await runConfigCommand(page, 'SelMix: Fine-tune', 'onnx.selmix.json');
      lap(`  command run${asked ? ' (it asked which config: onnx.selmix.json picked)' : ''}`);
      // The toast first: it is what a user sees whichever view is open, and when the dashboard is missing the log then
      // says whether the run failed at all.
      const toast = page
        .locator('.notifications-toasts', { hasText: /ONNX Runtime, which is not available here/ })
        .first();
      await toast.waitFor({ timeout: 120_000 });
      const text = await toast.innerText();
      lap(`  toast after the command: ${text.replace(/\s+/g, ' ').slice(0, 300)}`);
      const wv = dash();
      // It fails while loading its inputs, before run/started: the dashboard has no run name, only the failure.
      const status = await until(
        'the dashboard to show the run ended',
        async () => {
          const s = await wv.locator('body').getAttribute('data-status', { timeout: 5_000 });
          return s === 'finished' || s === 'failed' || s === 'stopped' ? s : null;
        },
        60_000,
        250,
      );
      lap(`  dashboard: run ${status}`);
      await shot('onnx-universal-failed');
      assert.equal(status, 'failed');
      assert.match(text, /model\.onnx/, 'the message names the model file');
      assert.doesNotMatch(await wv.locator('#backend').innerText(), /onnxruntime/, 'no ONNX Runtime named');
      assert.match(
        await wv.locator('body').innerText(),
        /Run failed: .*onnx\/model\.onnx: ONNX models run on ONNX Runtime, which is not available here/,
        'the dashboard shows the error',
      );
      assert.ok(!existsSync(join(WS, 'selmix-out', 'onnx', 'model.onnx')), 'no model.onnx written');
    });
  else
    await test('a PyTorch-exported ONNX model with an image folder: Fine-tune from the palette writes a checked model.onnx on ONNX Runtime', async () => {
      assert.ok(WS, 'E2E_WS is set');
      const outDir = join(WS, 'selmix-out', 'onnx');
      assert.ok(!existsSync(outDir), 'no output before the run');
      await openFileOn(page, 'onnx.selmix.json');
      // "Fine-tune" = the click on the command's row.
      const { clickedAt: commandAt } = await runConfigCommand(page, 'SelMix: Fine-tune', 'onnx.selmix.json');
      lap('  command run');
      const wv = dash();
      await wv.locator('body[data-stage-painted-at]').waitFor({ state: 'attached', timeout: 30_000 }); // set when the page first showed the run live
      const liveMs = Number(await wv.locator('body').getAttribute('data-stage-painted-at')) - commandAt;
      const t = await until("the page's timing marks", () => pageTiming(wv), 60_000);
      lap(`  ONNX: where it went: ${describeStartSplit(commandAt, t)}`);
      await wv.locator('#run-name', { hasText: 'E2E ONNX (PyTorch CNN)' }).waitFor({ timeout: 120_000 });
      // The stage lines the dashboard showed, in order (what a user sees while images decode and features are
      // extracted).
      const lines = [];
      const status = await until(
        'the run to end',
        async () => {
          const s = await dashboardFacts(wv);
          const head = stageHead(s.line);
          if (s.line && lines.at(-1)?.head !== head) lines.push({ head, line: s.line });
          return ended(s.status) ? s.status : null;
        },
        240_000,
        100,
      );
      lap(
        `  "Fine-tune" clicked -> live stage line ${liveMs} ms; stage lines seen: ${lines.map((l) => `"${l.line}"`).join(' -> ')}`,
      );
      reportTarget(lap, 'ONNX: "Fine-tune" clicked -> live stage line', liveMs, 1000);
      assert.ok(liveMs < 30_000, `the stage line came ${liveMs} ms after the command`);
      await page.waitForTimeout(1000);
      await shot('onnx-dashboard');
      const backend = await wv.locator('#backend').innerText();
      lap(`  run ${status}; dashboard backend: ${backend}`);
      assert.equal(status, 'finished', 'the run finished (not failed)');
      assert.match(backend, /^onnxruntime \(cpu\)/, 'the dashboard names ONNX Runtime as the provider');

      const model = join(outDir, 'model.onnx');
      assert.ok(existsSync(model) && statSync(model).size > 1000, `${model} written`);
      const report = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'));
      lap(`  report.json: onnx ${JSON.stringify(report.onnx)}`);
      assert.equal(report.onnx?.ok, true, 'the logits check passed');
      assert.equal(report.onnx.examples, 200, 'checked on the 200 validation images');
      assert.ok(
        report.onnx.maxAbsDiff <= report.onnx.tolerance && report.onnx.tolerance === 1e-4,
        `max |diff| ${report.onnx.maxAbsDiff} within ${report.onnx.tolerance}`,
      );
      assert.ok(
        report.notes.some((n) => n.startsWith('model.onnx checked on ONNX Runtime')),
        'the report notes say so',
      );
      assert.ok(
        report.notes.some((n) => /head step runs on ONNX Runtime/.test(n)),
        'the head steps ran on ONNX Runtime',
      );
      for (const f of ['W.npy', 'b.npy']) assert.ok(existsSync(join(outDir, f)), f);
    });
  if (process.env.E2E_ONNX_UNIVERSAL !== '1')
    await test('the same PyTorch CNN, whole network (freezeBackbone left at its default): Fine-tune from the palette trains the backbone on ONNX Runtime; the dashboard shows whole network, the step time and the ETA', async () => {
      assert.ok(WS, 'E2E_WS is set');
      const outDir = join(WS, 'selmix-out', 'onnx-whole');
      assert.ok(!existsSync(outDir), 'no output before the run');
      const cfg = JSON.parse(readFileSync(join(WS, 'onnx-whole.selmix.json'), 'utf8'));
      assert.ok(!('freezeBackbone' in cfg.model), 'the config leaves model.freezeBackbone at its default');
      await openFileOn(page, 'onnx-whole.selmix.json');
      const commandAt = Date.now();
      await runConfigCommand(page, 'SelMix: Fine-tune', 'onnx-whole.selmix.json');
      lap('  command run');
      const wv = dash();
      const NAME = 'E2E ONNX whole network (PyTorch CNN)';
      await wv.locator('#run-name', { hasText: NAME }).waitFor({ timeout: 120_000 });
      const shownStatus = await wv.locator('body').evaluate((b) => b.dataset.status);
      lap(`  the dashboard showed the run ${Date.now() - commandAt} ms after the command (status ${shownStatus})`);
      // The live stage lines (the dashboard's, also the sidebar's and the status bar's) and the facts while it runs.
      const lines = [];
      let trainsLive = '';
      let msLive = '';
      const status = await until(
        'the whole-network run to end',
        async () => {
          const s = await dashboardFacts(wv);
          if (s.line && lines.at(-1) !== s.line) lines.push(s.line);
          if (s.status === 'running' && s.trains !== '–') trainsLive = s.trains;
          if (s.status === 'running' && s.ms !== '–') msLive = s.ms;
          return ended(s.status) && s.name.includes(NAME) ? s.status : null;
        },
        300_000,
        100,
      );
      const wallS = (Date.now() - commandAt) / 1000;
      const etaLines = lines.filter((l) => /^fine-tuning the whole network: step \d+\/300 .*about .* left$/.test(l));
      // Lines that say what a refresh holding the steps does (run/refreshing: only when one lasts long enough).
      const refreshingLines = lines.filter((l) => / · (refreshing: |writing a checkpoint)/.test(l));
      lap(
        `  run ${status} in ${wallS.toFixed(1)} s; live: trains "${trainsLive}", time / step "${msLive}"; ${lines.length} stage lines, ${etaLines.length} with the ETA, e.g. "${etaLines.at(-1) ?? lines.at(-1) ?? ''}"; ${refreshingLines.length} saying what a refresh does${refreshingLines.length ? `, e.g. "${refreshingLines.at(-1)}"` : ''}`,
      );
      await page.waitForTimeout(500);
      await shot('onnx-whole-dashboard');
      assert.equal(status, 'finished', 'the run finished (not failed)');
      assert.match(await wv.locator('#backend').innerText(), /^onnxruntime \(cpu\)/, 'ONNX Runtime named');
      assert.equal(await wv.locator('#trains').innerText(), 'whole network', 'the dashboard says whole network');
      assert.equal(trainsLive, 'whole network', 'and said so while the run was live');
      assert.match(msLive, /^[\d.,]+ ms$/, 'the time per step was shown while the run was live');
      assert.match(await wv.locator('#ms-per-step').innerText(), /^[\d.,]+ ms$/, 'the time per step is shown');
      assert.ok(etaLines.length > 0, `a live stage line with the step and the time left (seen: ${lines.join(' | ')})`);
      // The measured step and the estimate for the whole run, printed before the first step (run/log).
      const log = await wv.locator('#run-log').innerText();
      const measured = log.match(
        /one whole-network step \(batch 32 \+ 32 partners\) takes (\d+) ms: about (.+?) for the 300 steps/,
      );
      assert.ok(measured, `the log shows the measured step time and the estimate: ${log.slice(0, 600)}`);
      lap(`  dashboard log: one step ${measured[1]} ms, about ${measured[2]} for the 300 steps`);
      assert.match(log, /whole network: 8 parameter tensors/, 'the log lists what is trained');

      // The sidebar (the SelMix view in the activity bar): what the run trained and the time per step.
      await showSidebar(page, { label: 'SelMix', extensionId: EXT });
      const side = webview(page, { extensionId: EXT, view: true });
      const sideFacts = await until(
        'the sidebar to show the whole-network run',
        async () => {
          const t = await side.locator('#sb-trains').innerText();
          const ms = await side.locator('#sb-ms-per-step').innerText();
          return t === 'whole network' && /^[\d.,]+ ms$/.test(ms) ? { t, ms } : null;
        },
        30_000,
      );
      lap(`  sidebar: trains "${sideFacts.t}", time / step "${sideFacts.ms}"`);
      await shot('onnx-whole-sidebar');

      const report = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'));
      lap(
        `  report.json: trains ${report.snapshot.started.trains}, trained ${JSON.stringify(report.trained)}, best step ${report.summary.bestStep}, onnx ${JSON.stringify(report.onnx)}`,
      );
      assert.equal(report.snapshot.started.trains, 'network', 'report.json: the run trained the whole network');
      assert.equal(report.trained?.scope, 'network', 'report.json lists the trained parameters as the whole network');
      assert.equal(report.config.model.freezeBackbone, false, 'the default for ONNX models: the whole network');
      assert.equal(report.onnx?.ok, true, 'model.onnx checked against the run forward pass');
      assert.ok(report.onnx.maxAbsDiff <= 1e-4, `max |diff| ${report.onnx.maxAbsDiff}`);
      assert.ok(
        report.summary.bestStep > 0,
        `a later iterate than the start was kept (step ${report.summary.bestStep})`,
      );
      // model.onnx against the input model, initializer by initializer (the project's ONNX codec).
      const { changed, same, onlyInOne } = initializerDiff(join(WS, 'onnx', 'model.onnx'), join(outDir, 'model.onnx'));
      lap(
        `  model.onnx vs the input: changed ${changed.map((c) => `${c.name} (${c.maxAbsDiff.toExponential(1)})`).join(', ')}`,
      );
      const changedNames = changed.map((c) => c.name);
      const backbone = report.trained.parameters.filter((p) => !p.startsWith('fc.'));
      assert.ok(backbone.length >= 6, `backbone parameters trained: ${backbone.join(', ')}`);
      for (const p of backbone) assert.ok(changedNames.includes(p), `backbone initializer ${p} changed in model.onnx`);
      assert.ok(
        same.some((n) => /running_mean|running_var/.test(n)) && !changedNames.some((n) => /running_/.test(n)),
        'BatchNorm statistics unchanged (frozen)',
      );
      assert.deepEqual(onlyInOne, [], 'the same initializers, by name');
    });
  if (process.env.E2E_ONNX_UNIVERSAL !== '1')
    for (const net of ['depthwise', 'vit'])
      await test(`a PyTorch ${net === 'vit' ? 'ViT' : 'depthwise CNN'} export, whole network: Fine-tune from the palette trains every parameter and model.onnx carries them`, async () => {
        assert.ok(WS, 'E2E_WS is set');
        const outDir = join(WS, 'selmix-out', `onnx-${net}`);
        assert.ok(!existsSync(outDir), 'no output before the run');
        const name = JSON.parse(readFileSync(join(WS, `onnx-${net}.selmix.json`), 'utf8')).name;
        await openFileOn(page, `onnx-${net}.selmix.json`);
        const commandAt = Date.now();
        await runConfigCommand(page, 'SelMix: Fine-tune', `onnx-${net}.selmix.json`);
        const wv = dash();
        const status = await until(
          `the ${net} run to end`,
          async () => {
            const s = await dashboardFacts(wv);
            return ended(s.status) && s.name.includes(name) ? s.status : null;
          },
          300_000,
          100,
        );
        assert.equal(status, 'finished', `the ${net} run finished (not failed)`);
        assert.equal(await wv.locator('#trains').innerText(), 'whole network', 'the dashboard says whole network');
        const report = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'));
        assert.equal(report.trained?.scope, 'network', 'report.json: the whole network was trained');
        assert.equal(report.onnx?.ok, true, 'model.onnx checked against the run forward pass');
        assert.ok(
          report.summary.bestStep > 0,
          `a later iterate than the start was kept (step ${report.summary.bestStep})`,
        );
        const { changed, onlyInOne } = initializerDiff(join(WS, 'nets', `${net}.onnx`), join(outDir, 'model.onnx'));
        const changedNames = new Set(changed.map((c) => c.name));
        const trained = report.trained.parameters;
        lap(
          `  ${net}: finished ${((Date.now() - commandAt) / 1000).toFixed(1)} s after the command, best step ${report.summary.bestStep}, ${trained.length} trained tensors, ${changed.length} changed in model.onnx, max |diff| ${report.onnx.maxAbsDiff}`,
        );
        assert.ok(trained.length >= 6, `trained: ${trained.join(', ')}`);
        for (const p of trained) assert.ok(changedNames.has(p), `trained initializer ${p} changed in model.onnx`);
        for (const c of changedNames) assert.ok(trained.includes(c), `only trained initializers changed (${c})`);
        assert.deepEqual(onlyInOne, [], 'the same initializers, by name');
      });
  if (process.env.E2E_ONNX_UNIVERSAL !== '1')
    await test('20,434 training images (a user-sized folder): a new dashboard is live with the stage line at once, and counts the images up as their features are extracted', async () => {
      assert.ok(WS, 'E2E_WS is set');
      const outDir = join(WS, 'selmix-out', 'onnx-20k');
      // A new dashboard page (as after closing it), in a window that has shown a webview before.
      await runCommand(page, 'View: Close All Editors');
      await openFileOn(page, 'onnx-20k.selmix.json');
      const { clickedAt } = await runConfigCommand(page, 'SelMix: Fine-tune', 'onnx-20k.selmix.json');
      const wv = dash();
      await wv.locator('body[data-stage-painted-at]').waitFor({ state: 'attached', timeout: 30_000 });
      const liveMs = Number(await wv.locator('body').getAttribute('data-stage-painted-at')) - clickedAt;
      const t = await until("the page's timing marks", () => pageTiming(wv), 60_000);
      lap(`  20k: where it went: ${describeStartSplit(clickedAt, t)}`);
      // The stage lines as the page showed them: each stage's first and last line.
      const seen = [];
      const status = await until(
        'the 20k run to end',
        async () => {
          const s = await dashboardFacts(wv);
          const head = stageHead(s.line);
          if (s.line && s.name.includes('20k')) {
            const last = seen.at(-1);
            if (last?.head === head) last.lines.push(s.line);
            else seen.push({ head, lines: [s.line] });
          }
          return ended(s.status) && s.name.includes('20k') ? s.status : null;
        },
        300_000,
        100,
      );
      lap(
        `  20k: "Fine-tune" clicked -> live stage line ${liveMs} ms; run ${status} ${((Date.now() - clickedAt) / 1000).toFixed(1)} s after the click; stages: ${seen.map((x) => `"${x.lines[0]}" … (${x.lines.length} seen) "${x.lines.at(-1)}"`).join(' -> ')}`,
      );
      reportTarget(lap, 'ONNX, 20,434 images, a new dashboard: "Fine-tune" clicked -> live stage line', liveMs, 1000);
      assert.ok(liveMs < 30_000, `the stage line came ${liveMs} ms after the command`);
      assert.equal(status, 'finished');
      // Images are decoded in batches as their features are extracted: one stage counts the 20,434 up.
      const counting = seen.find((x) => x.lines.some((l) => /\/20434\b/.test(l)));
      assert.ok(counting, `a stage line counted the 20,434 images (${seen.map((x) => x.head).join(', ')})`);
      const done = counting.lines.map((l) => Number(/(\d+)\/20434/.exec(l)?.[1] ?? NaN)).filter(Number.isFinite);
      assert.ok(
        done.length >= 3 && done.every((v, i) => i === 0 || v >= done[i - 1]) && done.at(-1) > done[0],
        `the count went up on the page: ${done.join(', ')}`,
      );
      const report = JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'));
      assert.equal(report.onnx?.ok, true, 'model.onnx checked');
    });
  if (process.env.E2E_ONNX_UNIVERSAL !== '1')
    await test('New Config File with a CIFAR-10-sized image tree and an ONNX model: train, val and test folders offered, the preprocessing preset asked, the config written', async () => {
      assert.ok(WS, 'E2E_WS is set');
      // CIFAR-10's layout and size (10 classes, 5,000 training and 1,000 test images each). The scan lists folders and
      // never reads an image, so empty files stand in for the JPEGs (a real copy would be 170 MB).
      const classes = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
      for (const [split, n] of [
        ['train', 5000],
        ['test', 1000],
      ])
        for (const c of classes) {
          const dir = join(WS, 'cifar10', split, c);
          mkdirSync(dir, { recursive: true });
          for (let i = 0; i < n; i++) writeFileSync(join(dir, `${String(i).padStart(4, '0')}.jpg`), '');
        }
      const title = page.locator('.quick-input-widget .quick-input-title');
      /** Waits for the pick whose title matches, returns its rows (as shown) and clicks the one with rowText. */
      const pick = async (titleRe, rowText) => {
        await until(
          `the pick ${titleRe}`,
          async () => (titleRe.test(await title.innerText()) ? true : null),
          30_000,
          100,
        );
        const rows = (await page.locator('.quick-input-list .monaco-list-row').allInnerTexts()).map((r) =>
          r.replace(/\s+/g, ' ').trim(),
        );
        await page.locator('.quick-input-list .monaco-list-row', { hasText: rowText }).first().click();
        return rows;
      };
      const askedAt = Date.now();
      await runCommand(page, 'SelMix: New Config File');
      const templates = await pick(/^New SelMix config file/, 'Image folders + ONNX model (PyTorch)');
      lap(`  templates (${Date.now() - askedAt} ms after the command): ${templates.join(' | ')}`);
      const train = await pick(/training images/, 'cifar10/train');
      const val = await pick(/validation images/, 'images/val');
      const testRows = await pick(/test images/, 'cifar10/test');
      const models = await pick(/starting model/, 'onnx/model.onnx');
      const presets = await pick(/normalised/, 'CIFAR');
      const what = await pick(/what should SelMix train/, 'The head only');
      lap(`  train: ${train.join(' | ')}`);
      lap(`  val: ${val.join(' | ')}`);
      lap(`  test: ${testRows.join(' | ')}`);
      lap(
        `  model: ${models.join(' | ')}; presets: ${presets.map((r) => r.split(' ')[0]).join(', ')}; train: ${what.map((r) => r.split(' ').slice(0, 3).join(' ')).join(', ')}`,
      );
      assert.ok(
        train.some((r) => /^cifar10\/train ?10 classes, 50000 images/.test(r)),
        'the CIFAR-10-sized train folder, whole',
      );
      assert.ok(
        val.some((r) => /^images\/val ?10 classes/.test(r)),
        'a validation folder',
      );
      assert.ok(
        val.some((r) => /carve a balanced validation set/.test(r)),
        'or none (carved from train)',
      );
      assert.ok(
        testRows.some((r) => /^cifar10\/test ?10 classes, 10000 images/.test(r)),
        'the test folder',
      );
      assert.ok(
        models.some((r) => /onnx\/model\.onnx ?ONNX model/.test(r)),
        'the model named as an ONNX model',
      );
      for (const p of ['ImageNet', 'CIFAR', 'MNIST', 'None'])
        assert.ok(
          presets.some((r) => r.startsWith(p)),
          `preset ${p} offered`,
        );
      await page.locator('.tab.active', { hasText: 'onnx-2.selmix.json' }).waitFor({ timeout: 15_000 });
      const text = readFileSync(join(WS, 'onnx-2.selmix.json'), 'utf8');
      assert.match(text, /"train": "cifar10\/train"/);
      assert.match(text, /"val": "images\/val"/);
      assert.match(text, /"test": "cifar10\/test"/);
      assert.match(text, /"kind": "onnx"/);
      assert.match(text, /"preset": "cifar"/);
      assert.match(text, /"freezeBackbone": true/);
      await shot('onnx-new-config');
    });
} finally {
  await close();
}
finish();
