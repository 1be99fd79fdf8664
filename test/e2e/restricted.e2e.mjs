// A restricted (untrusted) workspace in a real VS Code: Workspace Trust on (scripts/e2e-run.sh with E2E_TRUST=1),
// the workspace not trusted. The sidebar's Fine-tune button is disabled and says why, the dashboard says runs
// are disabled (not "No run yet. Run SelMix: Fine-tune"), and the command refuses with a message.
import assert from 'node:assert/strict';
import { harness, openWorkbench, runCommand, webview } from './vscodeDriver.mjs';

const EXT = 'selmix.selmix-vscode';
const { lap, test, shot, finish } = harness('restricted-', () => page);
const { page, close } = await openWorkbench({ width: 1400, height: 1000 });
try {
  // VS Code asks whether to trust the folder's authors: say no (restricted mode).
  const no = page.getByRole('button', { name: /No, I don't trust the authors/ });
  await no.click({ timeout: 20_000 }).catch(() => lap('  (no trust dialog)'));
  await page.locator('.statusbar, .monaco-workbench').first().waitFor();
  lap('workbench loaded in restricted mode');
  await test('the sidebar disables Fine-tune and says runs are disabled', async () => {
    const item = page
      .locator('.activitybar .action-item', { has: page.locator('.action-label[aria-label*="SelMix"]') })
      .first();
    await item.locator('.action-label').click({ timeout: 60_000 });
    const wv = webview(page, { extensionId: EXT, view: true });
    await wv.locator('#sb-restricted').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await wv.locator('#sb-restricted').innerText(), /Runs are disabled in this restricted workspace/);
    assert.equal(await wv.locator('#sb-start').getAttribute('disabled'), '', 'Fine-tune is disabled');
    await shot('restricted-sidebar');
  });
  await test('the dashboard says runs are disabled, not "Run SelMix: Fine-tune"', async () => {
    await runCommand(page, 'SelMix: Open Dashboard');
    const wv = webview(page, { extensionId: EXT });
    await wv.locator('#restricted-note').waitFor({ state: 'visible', timeout: 30_000 });
    assert.doesNotMatch(await wv.locator('#empty').innerText(), /Fine-tune/);
    await shot('restricted-dashboard');
  });
  await test('SelMix: Fine-tune refuses with a message', async () => {
    await runCommand(page, 'SelMix: Fine-tune');
    await page
      .locator('.notifications-toasts', { hasText: /does not run in a restricted workspace/ })
      .first()
      .waitFor({ timeout: 20_000 });
  });
} finally {
  await close();
}
finish();
