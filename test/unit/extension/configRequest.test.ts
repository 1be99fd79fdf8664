// The request the editor builds from a config's text: the text itself, and selmix.outputFolder as the
// output override only when the file names no "output".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configRequestOf, hasOutputField } from '../../../src/extension/configRequest';

test('a top-level "output" of any type counts; a nested one or broken JSON without it does not', () => {
  assert.equal(hasOutputField('{ "output": "out" }'), true);
  assert.equal(
    hasOutputField('{ "output": 5 }'),
    true,
    'the schema reports a wrong type; the default must not hide it',
  );
  assert.equal(hasOutputField('{ "data": { "output": "x" } }'), false);
  assert.equal(hasOutputField('{ "objective": '), false);
  assert.equal(hasOutputField('[]'), false);
});

test('the request carries the text as given, and the default output only when the file names none', () => {
  const text = '{\n  "objective": "minRecall"\n}\n';
  assert.deepEqual(configRequestOf('/ws/a.selmix.json', text, '/ws/selmix-out/a'), {
    configText: text,
    configPath: '/ws/a.selmix.json',
    overrides: { output: '/ws/selmix-out/a' },
  });
  const own = '{ "output": "mine" }';
  assert.deepEqual(configRequestOf('/ws/a.selmix.json', own, '/ws/selmix-out/a'), {
    configText: own,
    configPath: '/ws/a.selmix.json',
  });
  assert.deepEqual(configRequestOf('/ws/a.selmix.json', text, '/d', { temperature: 2 }).overrides, {
    temperature: 2,
    output: '/d',
  });
  assert.deepEqual(configRequestOf('/ws/a.selmix.json', text, '/d', { output: '/given' }).overrides, {
    output: '/given',
  });
});
