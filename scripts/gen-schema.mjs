// Writes media/selmix.schema.json (the editor's JSON Schema for *.selmix.json, used by contributes.jsonValidation)
// from configJsonSchema() in src/core/config.ts, the schema the runtime validates with, so the two cannot drift.
// Run by `npm run gen:schema` (never by the build, which writes no tracked file); test/unit/core/configSchema.test.ts
// fails when the committed file differs from a fresh generation.
import * as esbuild from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the generated schema lives. */
export const schemaPath = join(root, 'media', 'selmix.schema.json');

/** The schema text as it should be committed (2-space JSON, trailing newline). */
export async function generateSchemaText() {
  // Bundled to CommonJS in a temporary folder; mainFields picks jsonc-parser's ESM build (its UMD main hides its
  // requires).
  const dir = mkdtempSync(join(tmpdir(), 'selmix-schema-'));
  try {
    const file = join(dir, 'config.cjs');
    await esbuild.build({
      entryPoints: [join(root, 'src/core/config.ts')],
      outfile: file,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      mainFields: ['module', 'main'],
      logLevel: 'warning',
    });
    const mod = createRequire(import.meta.url)(file);
    return JSON.stringify(mod.configJsonSchema(), null, 2) + '\n';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes media/selmix.schema.json when it changed; returns whether it did. */
export async function writeSchema() {
  const text = await generateSchemaText();
  let old = '';
  try {
    old = readFileSync(schemaPath, 'utf8');
  } catch {
    /* first generation */
  }
  if (old === text) return false;
  mkdirSync(dirname(schemaPath), { recursive: true });
  writeFileSync(schemaPath, text);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const changed = await writeSchema();
  console.log(`${schemaPath}: ${changed ? 'written' : 'up to date'}`);
}
