// Runs every test file found by walking the test folders (never a hand-kept list) under node's test runner.
// Usage: node scripts/test.mjs [unit|integration|cli|all]   (default: all; the VS Code e2e has its own script)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const groups = { unit: 'test/unit', integration: 'test/integration', cli: 'test/cli' };
const which = process.argv[2] ?? 'all';
const dirs = which === 'all' ? Object.values(groups) : [groups[which]];
if (dirs.some((d) => d === undefined)) {
  console.error(`unknown test group "${which}"`);
  process.exit(2);
}

/** Every *.test.ts below dir, sorted. */
function find(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(find(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}
const files = dirs.flatMap(find);
// Build dist/ once up front: CLI tests spawn bin/selmix.js, which runs the bundle.
const build = spawnSync(process.execPath, ['esbuild.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
if (files.length === 0) {
  console.error(`no test files for "${which}"`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
