#!/usr/bin/env bash
# npm run test:e2e: builds and packages selmix.vsix, regenerates the e2e workspace (deterministic), and runs
# test/e2e/selmix.e2e.mjs in a real VS Code (code-server, from a cache folder outside the project).
# Prints "N passed, N failed"; exits non-zero when a test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
npm run --silent package >/tmp/selmix-e2e-package.log 2>&1 || { tail -40 /tmp/selmix-e2e-package.log; exit 1; }
node test/e2e/makeWorkspace.mjs
rm -rf test-artifacts/e2e && mkdir -p test-artifacts/e2e
rc=0
WORKSPACE_SEED=test/e2e/workspace E2E_ARTIFACTS=test-artifacts/e2e bash scripts/e2e-run.sh selmix.vsix test/e2e/selmix.e2e.mjs || rc=$?
echo "[e2e] total $(( $(date +%s) - t0 )) s (build, package, setup, run)"
exit $rc
