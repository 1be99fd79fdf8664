#!/usr/bin/env bash
# npm run test:e2e: builds and packages selmix.vsix (npm run package: this machine's platform package, its ONNX Runtime
# and sharp included, the one its users install), regenerates the e2e workspace (deterministic), runs
# test/e2e/selmix.e2e.mjs in a real VS Code (code-server, installed into a cache folder outside the project),
# test/e2e/largeK.e2e.mjs (K = 100 and 1000) in another, the restricted-mode test, then the platform packages
# (scripts/package-targets.mjs: every .vsix listed and checked to carry only its own ONNX Runtime binary, one pass
# each), test/e2e/onnx.e2e.mjs (a PyTorch-exported ONNX model fine-tuned with selmix.vsix installed),
# and the dashboard load test (K = 1000, headless chromium). Prints "N passed, N failed" over all of them.
# E2E_ONLY=vscode,largek,onnx (any of vscode, largek, restricted, packages, onnx, onnx-universal, load): only those
# suites run and count (onnx-universal without packages builds the universal package only).
set -uo pipefail
want() { [ -z "${E2E_ONLY:-}" ] || [[ ",$E2E_ONLY," == *",$1,"* ]]; }
cd "$(dirname "$0")/.."
t0=$(date +%s)
npm run --silent package >/tmp/selmix-e2e-package.log 2>&1 || { tail -40 /tmp/selmix-e2e-package.log; echo "0 passed, 1 failed"; exit 1; }
echo "[e2e] packaged $(du -h selmix.vsix | cut -f1) selmix.vsix"
node test/e2e/makeWorkspace.mjs
rm -rf test-artifacts/e2e && mkdir -p test-artifacts/e2e
want vscode && WORKSPACE_SEED=test/e2e/workspace E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix.vsix test/e2e/selmix.e2e.mjs 2>&1 | tee test-artifacts/e2e/vscode.log
# Large K (100 and 1000 classes): generated, not committed (a few MB).
if want largek; then
  rm -rf test-artifacts/ws-large && node test/e2e/makeWorkspace.mjs test-artifacts/ws-large 100 && node test/e2e/makeWorkspace.mjs test-artifacts/ws-large 1000
  WORKSPACE_SEED=test-artifacts/ws-large E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix.vsix test/e2e/largeK.e2e.mjs 2>&1 | tee test-artifacts/e2e/largek.log
fi
want restricted && E2E_TRUST=1 WORKSPACE_SEED=test/e2e/workspace E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix.vsix test/e2e/restricted.e2e.mjs 2>&1 | tee test-artifacts/e2e/restricted.log
# Platform packages, each listed and checked (a failure names the package and the file); then the ONNX session on ours.
if want packages; then
  node scripts/package-targets.mjs >test-artifacts/e2e/package-targets.log 2>&1; prc=$?
  grep -E "^wrote selmix-" test-artifacts/e2e/package-targets.log
  { [ $prc -eq 0 ] && echo "$(grep -cE '^wrote selmix-' test-artifacts/e2e/package-targets.log) passed, 0 failed" || { tail -5 test-artifacts/e2e/package-targets.log; echo "0 passed, 1 failed"; }; } >test-artifacts/e2e/packages.log
  cat test-artifacts/e2e/packages.log
else
  want onnx-universal && { node scripts/package-targets.mjs universal >>test-artifacts/e2e/package-targets.log 2>&1 || tail -5 test-artifacts/e2e/package-targets.log; }
fi
rm -rf test-artifacts/ws-onnx && node test/e2e/makeWorkspace.mjs test-artifacts/ws-onnx onnx
want onnx && WORKSPACE_SEED=test-artifacts/ws-onnx E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix.vsix test/e2e/onnx.e2e.mjs 2>&1 | tee test-artifacts/e2e/onnx.log
want onnx-universal && E2E_ONNX_UNIVERSAL=1 WORKSPACE_SEED=test-artifacts/ws-onnx E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix-universal.vsix test/e2e/onnx.e2e.mjs 2>&1 | tee test-artifacts/e2e/onnx-universal.log
want load && E2E_ARTIFACTS=test-artifacts/e2e node --import tsx test/e2e/dashboardLoad.e2e.ts 2>&1 | tee test-artifacts/e2e/load.log
count() { grep -oE "^[0-9]+ passed, [0-9]+ failed" <<<"$1" | tail -1; }
p=0; f=0
for suite in vscode load largek restricted packages onnx onnx-universal; do
  want "$suite" || continue
  o=$(cat "test-artifacts/e2e/$suite.log" 2>/dev/null)
  # The failing cases again, named by suite, so that the end of the output (what CI keeps) says which ones failed.
  grep -E "^(\[[0-9.]+s\] )?FAIL " <<<"$o" | sed "s/^/[e2e] $suite: /"
  line=$(count "$o")
  if [ -z "$line" ]; then   # a suite that crashed counts as one failure
    echo "[e2e] $suite: no result line (the suite crashed; see test-artifacts/e2e/$suite.log)"
    f=$((f + 1)); continue
  fi
  p=$((p + $(cut -d' ' -f1 <<<"$line"))); f=$((f + $(cut -d' ' -f3 <<<"$line")))
done
echo "[e2e] total $(( $(date +%s) - t0 )) s (build, package, setup, VS Code run, load test); screenshots in test-artifacts/e2e/"
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
