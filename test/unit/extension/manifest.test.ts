import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKEND_CHOICES } from '../../../src/protocol/messages';
import { parseConfig } from '../../../src/core/config';
import { CONFIG_TEMPLATES, DEMO_TEMPLATE_CONFIG, templateText } from '../../../src/extension/templates';
import { DEMO_CACHE, DEMO_CONFIG, DEMO_OUTPUT, demoConfigText } from '../../../src/request/demo';

const root = join(import.meta.dirname, '..', '..', '..');
interface Manifest {
  contributes: {
    commands: { command: string; title: string; category: string }[];
    configuration: { properties: Record<string, { enum?: string[]; default?: unknown }> };
    views: Record<string, { id: string; type?: string }[]>;
    viewsContainers: { activitybar: { id: string }[] };
  };
  capabilities: { untrustedWorkspaces: { supported: string | boolean; description?: string } };
  extensionKind: string[];
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;

test('the six commands are contributed under the SelMix category', () => {
  const titles = pkg.contributes.commands.map((c) => `${c.category}: ${c.title}`).sort();
  assert.deepEqual(titles, [
    'SelMix: Fine-tune',
    'SelMix: New Config File',
    'SelMix: Open Dashboard',
    'SelMix: Run Demo',
    'SelMix: Stop',
    'SelMix: Temperature Sweep',
  ]);
  for (const c of pkg.contributes.commands) assert.match(c.command, /^selmix\./);
});

test('selmix.backend lists exactly BACKEND_CHOICES (one list in src/protocol, read by the settings wrapper and the backend)', async () => {
  assert.deepEqual(pkg.contributes.configuration.properties['selmix.backend']?.enum, [...BACKEND_CHOICES]);
  assert.equal(pkg.contributes.configuration.properties['selmix.dashboard.updatesPerSecond']?.default, 10);
  assert.ok(pkg.contributes.configuration.properties['selmix.outputFolder']);
});

test('workspace trust is limited, the extension runs where the data is, the sidebar is a webview view', () => {
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.ok((pkg.capabilities.untrustedWorkspaces.description ?? '').length > 20);
  assert.deepEqual(pkg.extensionKind, ['workspace']);
  assert.ok(pkg.contributes.viewsContainers.activitybar.some((c) => c.id === 'selmix'));
  assert.deepEqual(
    pkg.contributes.views.selmix?.map((v) => [v.id, v.type]),
    [['selmix.sidebar', 'webview']],
  );
});

test('every config template and the demo config pass the schema', () => {
  for (const t of CONFIG_TEMPLATES) assert.doesNotThrow(() => parseConfig(templateText(t), t.fileName), t.label);
  assert.equal(parseConfig(demoConfigText(), 'demo').objective, 'minRecall');
});

test('the demo template is the one demo run (src/request/demo.ts), with its paths taken from the workspace root', () => {
  const { model, output, ...rest } = DEMO_TEMPLATE_CONFIG;
  const { model: demoModel, output: demoOutput, ...demoRest } = DEMO_CONFIG;
  assert.deepEqual(rest, demoRest);
  assert.deepEqual(model, { ...demoModel, path: DEMO_CACHE });
  assert.equal(output, DEMO_OUTPUT);
  assert.equal(demoOutput, '.', 'the demo runs from <root>/selmix-demo/demo.selmix.json');
});
