// The extension host bundle stays light: following every import from src/extension/extension.ts reaches
// neither the worker, the CLI, nor anything that loads tfjs (docs/ARCHITECTURE.md, "Layers").
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');

/** Every module reachable from entry: relative files (resolved to .ts) and bare package names. */
function reachable(entry: string): { files: string[]; packages: Set<string> } {
  const files: string[] = [];
  const packages = new Set<string>();
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    files.push(relative(root, f));
    const src = readFileSync(f, 'utf8');
    // Type-only imports vanish from the bundle.
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\bfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) { packages.add(spec); continue; }
      const base = resolve(dirname(f), spec);
      const file = [`${base}.ts`, join(base, 'index.ts'), base].find((p) => existsSync(p) && p.endsWith('.ts'));
      assert.ok(file, `${relative(root, f)} imports ${spec}, which does not resolve`);
      stack.push(file);
    }
  }
  return { files, packages };
}

test('the extension host reaches no worker, CLI, backend or training module, and no tfjs package', () => {
  const { files, packages } = reachable(join(root, 'src/extension/extension.ts'));
  const banned = files.filter((f) => /^src\/(worker|cli|backend)\//.test(f) || /^src\/run\/(run|inputs|stages|evaluate|experiments)\.ts$/.test(f));
  assert.deepEqual(banned, []);
  assert.deepEqual([...packages].filter((p) => p.startsWith('@tensorflow/')), []);
  assert.ok(files.includes('src/run/prepare.ts') && files.includes('src/run/report.ts'), 'the walk follows imports');
});
