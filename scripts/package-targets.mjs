// Platform-specific .vsix files, each with only its own ONNX Runtime binary (dist/node_modules/onnxruntime-node) and
// its
// own sharp image decoder (dist/node_modules/@img/sharp-<target>, and sharp-libvips-<target>), plus a universal one
// without either (it falls back to tfjs-wasm and to the pure-JS image decoders, with a note in the run). sharp's
// packages
// for other platforms than this one are fetched with `npm pack` into .selmix-cache/img/ (npm installs only this one's).
//   node scripts/package-targets.mjs [target ...]     (default: every target below, then universal)
//   node scripts/package-targets.mjs native --out selmix.vsix   (npm run package: this machine's package, the one its
//                                                                 users install)
// After each package it reads the .vsix's file listing and fails unless it carries exactly its own platform's
// ONNX Runtime files (the universal one: none), checkVsixOrt in scripts/ortTarget.mjs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkVsixOrt, ORT_TARGETS, ortBinSubdir, sharpPackages, shippedOrtTargets, zipEntries } from './ortTarget.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ortDir = join(root, 'node_modules/onnxruntime-node');
const TARGETS = [...ORT_TARGETS, 'universal'];
const shipped = shippedOrtTargets(ortDir);
if (shipped.join() !== [...ORT_TARGETS].sort().join()) {
  throw new Error(
    `onnxruntime-node ships binaries for ${shipped.join(', ')}; scripts/ortTarget.mjs lists ${ORT_TARGETS.join(', ')}: update ORT_TARGETS`,
  );
}
/**
 * This machine's target: its platform's package where onnxruntime-node ships a binary for it (glibc Linux, not Alpine's
 * musl), else the universal one.
 */
function nativeTarget() {
  const t = `${process.platform}-${process.arch}`;
  const glibc = process.platform !== 'linux' || Boolean(process.report?.getReport().header.glibcVersionRuntime);
  return ORT_TARGETS.includes(t) && glibc ? t : 'universal';
}
const argv = process.argv.slice(2);
const outAt = argv.indexOf('--out');
const outFile = outAt >= 0 ? argv[outAt + 1] : undefined;
if (outAt >= 0) argv.splice(outAt, 2);
const wanted = (argv.length ? argv : TARGETS).map((t) => (t === 'native' ? nativeTarget() : t));
if (outFile !== undefined && (wanted.length !== 1 || !outFile.endsWith('.vsix')))
  throw new Error('--out FILE.vsix names the package of exactly one target');

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

/** Makes sharp's platform packages of a target available to esbuild.mjs: installed, or unpacked from `npm pack`. */
function fetchSharp(target) {
  const versions = JSON.parse(readFileSync(join(root, 'node_modules/sharp/package.json'), 'utf8')).optionalDependencies;
  const cache = join(root, '.selmix-cache/img');
  for (const pkg of sharpPackages(target)) {
    if (
      existsSync(join(root, 'node_modules', pkg, 'package.json')) ||
      existsSync(join(cache, 'node_modules', pkg, 'package.json'))
    )
      continue;
    if (!versions[pkg]) throw new Error(`sharp lists no ${pkg}`);
    mkdirSync(join(cache, 'tgz'), { recursive: true });
    const tgz = execFileSync(
      process.platform === 'win32' ? 'npm.cmd' : 'npm',
      ['pack', `${pkg}@${versions[pkg]}`, '--pack-destination', join(cache, 'tgz')],
      { cwd: root, encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop();
    const dest = join(cache, 'node_modules', pkg);
    mkdirSync(dest, { recursive: true });
    run('tar', ['-xzf', join(cache, 'tgz', tgz), '-C', dest, '--strip-components=1']);
  }
}

run(process.execPath, ['scripts/pack-mnist.mjs']);
for (const t of wanted) {
  const universal = t === 'universal';
  if (!universal) fetchSharp(t);
  run(
    process.execPath,
    ['esbuild.mjs', '--production'],
    universal ? { SELMIX_ORT_TARGET: '' } : { SELMIX_ORT_TARGET: t },
  );
  const out = outFile ?? `selmix-${t}.vsix`;
  run(join(root, 'node_modules/.bin/vsce'), [
    'package',
    '--no-dependencies',
    '--allow-missing-repository',
    '--no-rewrite-relative-links',
    ...(universal ? [] : ['--target', t]),
    '--out',
    out,
  ]);
  const entries = zipEntries(readFileSync(join(root, out)));
  const own = universal ? [] : readdirSync(join(ortDir, ortBinSubdir(t)));
  const problems = checkVsixOrt(t, entries, own);
  if (problems.length) throw new Error(`${out}: ${problems.join('; ')}`);
  const mb = (statSync(join(root, out)).size / 1e6).toFixed(1);
  process.stdout.write(
    `wrote ${out} (${mb} MB, ${entries.length} files): ${universal ? 'no ONNX Runtime (tfjs-wasm only), no sharp (pure-JS image decoders)' : `ONNX Runtime ${ortBinSubdir(t)} only (${own.join(', ')}), sharp ${sharpPackages(t).join(' + ')}`}\n`,
  );
}
