// A probe, not a test case (run by hand; scripts/e2e.sh does not run it): how long VS Code takes to show the first
// webview of a fresh browser profile, by how long the window has been loaded when the user opens it, with and without
// a SelMix run starting at the same moment. Each try is a new browser profile on the same code-server.
//   WORKSPACE_SEED=test-artifacts/ws-large bash scripts/e2e-run.sh selmix.vsix test/e2e/firstWebview.probe.mjs
// (test-artifacts/ws-large: `node test/e2e/makeWorkspace.mjs test-artifacts/ws-large 100`). Prints, per try, the
// click -> page painted time and when VS Code's webview service worker took control of the page (CDP's
// ServiceWorker events), and "1 passed, 0 failed" when every try painted.
import { openWorkbench, openFile, pageTiming, runCommand, runConfigCommand, until, webview } from './vscodeDriver.mjs';

const EXT = 'selmix.selmix-vscode';
const settles = (process.env.PROBE_SETTLE_S ?? '3,8').split(',').map(Number);
const reps = Number(process.env.PROBE_REPS ?? 2);
let painted = 0,
  tries = 0;
for (let rep = 0; rep < reps; rep++)
  for (const settle of settles)
    for (const what of ['Open Dashboard', 'Fine-tune']) {
      tries++;
      const wb = await openWorkbench();
      const loaded = Date.now();
      try {
        const cdp = await wb.context.newCDPSession(wb.page);
        let controlledAt = NaN;
        cdp.on('ServiceWorker.workerVersionUpdated', (e) => {
          for (const v of e.versions)
            if (/webview\/browser\/pre\/service-worker/.test(v.scriptURL) && (v.controlledClients ?? []).length > 0)
              controlledAt = Number.isNaN(controlledAt) ? Date.now() : controlledAt;
        });
        await cdp.send('ServiceWorker.enable');
        if (what === 'Fine-tune') await openFile(wb.page, 'k-hundred.selmix.json');
        await wb.page.waitForTimeout(Math.max(0, settle * 1000 - (Date.now() - loaded)));
        const clickedAt =
          what === 'Fine-tune'
            ? (await runConfigCommand(wb.page, 'SelMix: Fine-tune', 'k-hundred.selmix.json')).clickedAt
            : await runCommand(wb.page, 'SelMix: Open Dashboard');
        const wv = webview(wb.page, { extensionId: EXT });
        // The page's own first contentful paint (its HTML, before any script), on the page's clock (same machine).
        await wv.locator('body[data-fcp-at]').waitFor({ state: 'attached', timeout: 60_000 });
        const t = await until(wb.page, "the page's timing marks", () => pageTiming(wv), 30_000);
        painted++;
        console.log(
          `${what}, ${settle} s after the window loaded: click -> page painted ${t.fcpAt - clickedAt} ms; ` +
            `VS Code's webview service worker controlled the page ${controlledAt - clickedAt} ms after the click; ` +
            `HTML set -> page navigation start ${t.navigationStart - t.htmlAt} ms`,
        );
        if (what === 'Fine-tune') await runCommand(wb.page, 'SelMix: Stop');
        await wb.page.waitForTimeout(1500);
      } catch (e) {
        console.log(`${what}, ${settle} s: FAILED ${e.message}`);
      } finally {
        await wb.close();
      }
    }
console.log(`${painted === tries ? 1 : 0} passed, ${painted === tries ? 0 : 1} failed`);
