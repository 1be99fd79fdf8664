// The one build script: bundles the extension host, the worker, the CLI and the webviews into dist/,
// and copies the tfjs wasm binaries and the webview libraries' assets beside them. tsc only type-checks.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  { ...common, entryPoints: nodeEntries, outdir: dist, platform: 'node', format: 'cjs', target: 'node20',
    external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu', '@tensorflow/tfjs-backend-webgpu', 'onnxruntime-node'],
    ignoreAnnotations: true, mainFields: ['module', 'main'] },
  { ...common, entryPoints: webEntries, outdir: dist, platform: 'browser', format: 'iife', target: 'es2022',
    loader: { '.ttf': 'file' } },
];

if (!watch) rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', f), join(dist, f));
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
