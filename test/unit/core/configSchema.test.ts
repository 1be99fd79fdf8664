import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configJsonSchema } from '../../../src/core/config';

const root = join(import.meta.dirname, '..', '..', '..');

test('the committed media/selmix.schema.json equals the schema generated from configSchema (run npm run gen:schema)', () => {
  const committed = readFileSync(join(root, 'media', 'selmix.schema.json'), 'utf8');
  assert.equal(committed, JSON.stringify(configJsonSchema(), null, 2) + '\n');
});

test('package.json wires the schema to *.selmix.json', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { contributes: { jsonValidation: { fileMatch: string; url: string }[] } };
  assert.ok(pkg.contributes.jsonValidation.some((v) => v.fileMatch === '*.selmix.json' && v.url === './media/selmix.schema.json'));
});
