// The one build script: bundles the extension host, the worker, the CLI and the webviews into dist/,
// and copies the tfjs wasm binaries and the webview libraries' assets beside them. tsc only type-checks.
import * as esbuild from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortBinSubdir, SHARP_DEPS, sharpPackages } from './scripts/ortTarget.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const dist = join(root, 'dist');

/** Node-side bundles. ignoreAnnotations keeps tfjs's backend registrations (they look side-effect free). */
const nodeEntries = [
  { in: 'src/extension/extension.ts', out: 'extension' },
  { in: 'src/worker/worker.ts', out: 'worker' },
  { in: 'src/cli/main.ts', out: 'cli' },
].filter((e) => existsSync(join(root, e.in)));
const webEntries = [
  { in: 'webview/dashboard.ts', out: 'webview/dashboard' },
  { in: 'webview/sidebar.ts', out: 'webview/sidebar' },
].filter((e) => existsSync(join(root, e.in)));

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning', absWorkingDir: root };
const builds = [
  {
    ...common,
    entryPoints: nodeEntries,
    outdir: dist,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: [
      'vscode',
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-node-gpu',
      'webgpu',
      '@tensorflow/tfjs-backend-webgpu',
      'onnxruntime-node',
      'sharp',
    ],
    ignoreAnnotations: true,
    mainFields: ['module', 'main'],
    // tfjs without WebGL, the converter and tfjs-data (src/backend/tfjsBundled.ts): less to parse at every start.
    alias: { '@tensorflow/tfjs': './src/backend/tfjsBundled.ts' },
  },
  {
    ...common,
    entryPoints: webEntries,
    outdir: dist,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.ttf': 'file' },
  },
];

if (!watch) rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', f), join(dist, f));
}
// SELMIX_ORT_TARGET=<platform>-<arch> (a platform-specific .vsix, scripts/package-targets.mjs): onnxruntime-node with
// only
// that platform's native binary, and onnxruntime-common, go into dist/node_modules, where the bundles resolve them.
const ortTarget = process.env.SELMIX_ORT_TARGET;
if (ortTarget) {
  const sub = ortBinSubdir(ortTarget);
  const ortSrc = join(root, 'node_modules/onnxruntime-node');
  const binDir = join(ortSrc, sub);
  if (!existsSync(binDir))
    throw new Error(`SELMIX_ORT_TARGET=${ortTarget}: onnxruntime-node has no binary in ${binDir}`);
  const ortDst = join(dist, 'node_modules/onnxruntime-node');
  cpSync(join(ortSrc, 'package.json'), join(ortDst, 'package.json'));
  cpSync(join(ortSrc, 'dist'), join(ortDst, 'dist'), {
    recursive: true,
    filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts'),
  });
  cpSync(binDir, join(ortDst, sub), { recursive: true });
  const common = join(root, 'node_modules/onnxruntime-common');
  cpSync(join(common, 'package.json'), join(dist, 'node_modules/onnxruntime-common/package.json'));
  cpSync(join(common, 'dist/cjs'), join(dist, 'node_modules/onnxruntime-common/dist/cjs'), {
    recursive: true,
    filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts'),
  });
  // sharp (the image decoder, src/data/imageDecode.ts): its JS and dependencies, and only this target's @img packages,
  // from node_modules or from .selmix-cache/img/node_modules (where scripts/package-targets.mjs unpacks other
  // platforms').
  const jsOnly = (f) =>
    !f.endsWith('.map') &&
    !f.endsWith('.d.ts') &&
    !f.endsWith('.md') &&
    !f.includes(`${join('sharp', 'src')}`) &&
    !f.includes(`${join('sharp', 'install')}`);
  for (const dep of [...SHARP_DEPS, ...sharpPackages(ortTarget)]) {
    const from = [join(root, 'node_modules', dep), join(root, '.selmix-cache/img/node_modules', dep)].find((d) =>
      existsSync(join(d, 'package.json')),
    );
    if (!from)
      throw new Error(
        `SELMIX_ORT_TARGET=${ortTarget}: ${dep} is not installed; run node scripts/package-targets.mjs ${ortTarget} (it fetches it with npm pack)`,
      );
    cpSync(from, join(dist, 'node_modules', dep), { recursive: true, filter: jsOnly });
  }
}
mkdirSync(join(dist, 'webview'), { recursive: true });
for (const f of ['codicon.css', 'codicon.ttf']) {
  copyFileSync(join(root, 'node_modules/@vscode/codicons/dist', f), join(dist, 'webview', f));
}
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.filter((b) => b.entryPoints.length > 0).map((b) => esbuild.build(b)));
  writeFileSync(join(dist, '.built'), new Date().toISOString() + '\n');
}
