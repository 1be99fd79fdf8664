#!/usr/bin/env bash
# The GPU paths on a machine that has a GPU (none was available where they were written: they are unverified).
# Runs `selmix backends` (ONNX Runtime's CUDA and WebGPU providers, tfjs-node-gpu) and bench (h) with each ONNX
# Runtime GPU provider, the whole-network training step (bench/networkStep.ts on the committed ResNet fixture, batch 32)
# with each provider, and writes one small JSON (default gpu-check.json):
#   bash scripts/gpu-check.sh [out.json]
# The CUDA provider is not in the npm package: with network access, fetch it first with
#   (cd node_modules/onnxruntime-node && node script/install --onnxruntime-node-install=cuda12)
set -u
cd "$(dirname "$0")/.."
out="${1:-gpu-check.json}"
steps="${GPU_CHECK_STEPS:-500}"
tmp="$(mktemp -d)"
[ -f dist/cli.js ] || node esbuild.mjs
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$tmp/gpu.txt" 2>/dev/null || echo "nvidia-smi not found" > "$tmp/gpu.txt"
SELMIX_ORT_WEBGPU=1 timeout 120 node bin/selmix.js backends > "$tmp/backends.txt" 2>&1
timeout 120 node bin/selmix.js backends --backend tfjs-node-gpu > "$tmp/tfjs-node-gpu.txt" 2>&1
for p in cpu cuda webgpu; do
  SELMIX_ORT_PROVIDER=$p timeout 300 node --import tsx bench/onnx.ts --steps "$steps" --images 2048 --json > "$tmp/bench-$p.json" 2> "$tmp/bench-$p.err"
  echo $? > "$tmp/bench-$p.rc"
done
for p in cpu cuda webgpu; do
  SELMIX_ORT_PROVIDER=$p timeout 300 node --import tsx bench/networkStep.ts --ort test/fixtures/onnx/nets/resnet_op17_dyn.onnx --size 16 --batch 32 --steps 20 > "$tmp/net-$p.json" 2> "$tmp/net-$p.err"
  echo $? > "$tmp/net-$p.rc"
done
node - "$tmp" "$out" <<'JS'
const fs = require('node:fs');
const [dir, out] = process.argv.slice(2);
const read = (f) => { try { return fs.readFileSync(`${dir}/${f}`, 'utf8').trim(); } catch { return ''; } };
const bench = {};
for (const p of ['cpu', 'cuda', 'webgpu']) {
  let r = null;
  try { r = JSON.parse(read(`bench-${p}.json`)); } catch { r = null; }
  bench[p] = r ? { ortProvider: r.ortProvider, headLoop: r.headLoop, wallRatioVsTorch: r.wallRatioVsTorch, features: r.features }
    : { failed: true, exitCode: Number(read(`bench-${p}.rc`)), stderr: read(`bench-${p}.err`).split('\n').slice(-5) };
}
const networkStep = {};
for (const p of ['cpu', 'cuda', 'webgpu']) {
  let r = null;
  try { r = JSON.parse(read(`net-${p}.json`).split('\n').pop()); } catch { r = null; }
  networkStep[p] = r ?? { failed: true, exitCode: Number(read(`net-${p}.rc`)), stderr: read(`net-${p}.err`).split('\n').slice(-5) };
}
const report = { date: new Date().toISOString(), gpu: read('gpu.txt'), backends: read('backends.txt').split('\n'), tfjsNodeGpu: read('tfjs-node-gpu.txt').split('\n'), bench, networkStep };
fs.writeFileSync(out, JSON.stringify(report, null, 1) + '\n');
console.log(`wrote ${out}`);
JS
rm -rf "$tmp"
