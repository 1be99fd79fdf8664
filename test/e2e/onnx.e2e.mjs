// ONNX in a real VS Code (code-server): the platform .vsix (selmix-linux-x64.vsix, with its ONNX Runtime binary in
// dist/node_modules) installed, a workspace holding a PyTorch-exported CNN (test/fixtures/onnx/cnn_bn_gap.onnx) and
// MNIST-LT PNG class folders (test/e2e/makeWorkspace.mjs <dir> onnx). "SelMix: Fine-tune" from the palette runs to
// the end; then on disk <output>/model.onnx exists and report.json says its logits check passed, and the dashboard
// names ONNX Runtime as the provider. Run by scripts/e2e.sh as its own code-server session.
// E2E_ONNX_UNIVERSAL=1 (a second session, selmix-universal.vsix installed: no ONNX Runtime inside): the same command
// fails with the data error naming the model file and saying ONNX Runtime is not available, and writes nothing.
import assert from 'node:assert/strict';
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
  until as untilOn,
  webview,
} from './vscodeDriver.mjs';

const EXT = 'selmix.selmix-vscode';
const { lap, test, shot, finish } = harness('onnx-', () => page);
const WS = process.env.E2E_WS;
const { page, close } = await openWorkbench({ width: 1600, height: 1200 });
const dash = () => webview(page, { extensionId: EXT });
const until = (what, fn, timeout, every) => untilOn(page, what, fn, timeout, every);

try {
  lap('workbench loaded');
  if (process.env.E2E_ONNX_UNIVERSAL === '1')
    await test('the universal package (no ONNX Runtime): Fine-tune on an ONNX model fails with a data error naming the file, and writes nothing', async () => {
      assert.ok(WS, 'E2E_WS is set');
      await openFileOn(page, 'onnx.selmix.json');
      await runCommand(page, 'SelMix: Fine-tune');
      const wv = dash();
      // It fails while loading its inputs, before run/started: the dashboard has no run name, only the failure.
      const status = await until(
        'the run to end',
        async () => {
          const s = await wv.locator('body').getAttribute('data-status');
          return s === 'finished' || s === 'failed' || s === 'stopped' ? s : null;
        },
        120_000,
        250,
      );
      const toast = page
        .locator('.notifications-toasts', { hasText: /ONNX Runtime, which is not available here/ })
        .first();
      await toast.waitFor({ timeout: 20_000 });
      const text = await toast.innerText();
      lap(`  run ${status}; toast: ${text.replace(/\s+/g, ' ').slice(0, 300)}`);
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
      const commandAt = await runCommand(page, 'SelMix: Fine-tune');
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
          const s = await wv.locator('body').evaluate((b) => ({
            status: b.dataset.status,
            line: document.getElementById('stage-line').hidden ? '' : document.getElementById('stage-line').textContent,
          }));
          const head = s.line.replace(/ \d+\/\d+.*$|:.*$|….*$/, '');
          if (s.line && lines.at(-1)?.head !== head) lines.push({ head, line: s.line });
          return s.status === 'finished' || s.status === 'failed' || s.status === 'stopped' ? s.status : null;
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
