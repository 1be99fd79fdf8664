// Platform-specific .vsix files, each with only its own ONNX Runtime binary (dist/node_modules/onnxruntime-node),
// plus a universal one without ONNX Runtime (it falls back to tfjs-wasm, with a note in the run).
//   node scripts/package-targets.mjs [target ...]     (default: every target below, then universal)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64', 'universal'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : TARGETS;

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

run(process.execPath, ['scripts/pack-mnist.mjs']);
for (const t of wanted) {
  const universal = t === 'universal';
  run(process.execPath, ['esbuild.mjs', '--production'], universal ? { SELMIX_ORT_TARGET: '' } : { SELMIX_ORT_TARGET: t });
  const out = `selmix-${t}.vsix`;
  run(join(root, 'node_modules/.bin/vsce'), ['package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', ...(universal ? [] : ['--target', t]), '--out', out]);
  process.stdout.write(`wrote ${out}\n`);
}
