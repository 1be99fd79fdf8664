#!/usr/bin/env bash
# usage: scripts/e2e-run.sh EXTENSION.vsix DRIVER.mjs
# Starts a throw-away code-server (VS Code 1.139, Node 24; installed by scripts/e2e-setup.sh into a cache folder,
# never into this project) on 127.0.0.1 with the .vsix installed and WORKSPACE_SEED copied in as the workspace,
# runs the Playwright driver against it, copies logs to $E2E_ARTIFACTS, and kills the whole process group.
# Adapted from the recipe in ../shared/vscode-e2e/.
set -euo pipefail
VSIX=$(realpath "$1"); DRIVER=$(realpath "$2")
ARTIFACTS=$(realpath -m "${E2E_ARTIFACTS:-test-artifacts/e2e}")
SETUP_OUT=$("$(dirname "$0")/e2e-setup.sh") || exit 1
eval "$(tail -2 <<<"$SETUP_OUT")"                  # -> CS_BIN, NODE24_BIN
PORT=${PORT:-$(( 20000 + RANDOM % 20000 ))}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/selmix-e2e-XXXXXX")
mkdir -p "$RUN/ud/User" "$RUN/ext" "$RUN/ws" "$RUN/xdg" "$RUN/tmp" "$ARTIFACTS"
[ -n "${WORKSPACE_SEED:-}" ] && cp -r "$WORKSPACE_SEED"/. "$RUN/ws/"
cat > "$RUN/ud/User/settings.json" <<'JSON'
{
  "telemetry.telemetryLevel": "off",
  "chat.disableAIFeatures": true,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "workbench.startupEditor": "none",
  "workbench.enableExperiments": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "security.workspace.trust.enabled": TRUST_ENABLED,
  "git.enabled": false,
  "github.gitAuthentication": false,
  "npm.fetchOnlinePackageInfo": false,
  "json.schemaDownload.enable": false,
  "typescript.disableAutomaticTypeAcquisition": true,
  "window.restoreWindows": "all"
}
JSON
# E2E_TRUST=1: Workspace Trust on (the workspace opens restricted: the restricted-mode e2e); default off.
sed -i "s/TRUST_ENABLED/$([ "${E2E_TRUST:-}" = 1 ] && echo true || echo false)/" "$RUN/ud/User/settings.json"
# TMPDIR: code-server's ipc sockets, the TS server and chromium's temp dirs go into the run dir, not /tmp
export PATH="$NODE24_BIN:$PATH" XDG_CONFIG_HOME="$RUN/xdg" TMPDIR="$RUN/tmp"
# marketplace -> closed loopback port, so nothing looks up open-vsx.org
export EXTENSIONS_GALLERY='{"serviceUrl":"http://127.0.0.1:9/gallery","itemUrl":"http://127.0.0.1:9/items","resourceUrlTemplate":"http://127.0.0.1:9/r/{publisher}/{name}/{version}/{path}"}'
CS_ARGS=(--auth none --bind-addr "127.0.0.1:$PORT" --user-data-dir "$RUN/ud" --extensions-dir "$RUN/ext"
  --disable-telemetry --disable-update-check --disable-getting-started-override)
[ "${E2E_TRUST:-}" = 1 ] || CS_ARGS+=(--disable-workspace-trust)
"$CS_BIN" "${CS_ARGS[@]}" --install-extension "$VSIX" >"$RUN/install.log" 2>&1 || { cat "$RUN/install.log"; exit 1; }
setsid "$CS_BIN" "${CS_ARGS[@]}" "$RUN/ws" >"$RUN/code-server.log" 2>&1 &
CS_PID=$!
cleanup() {
  kill -- "-$CS_PID" 2>/dev/null || true   # whole group: ext host, file watcher, worker threads
  cp "$RUN/code-server.log" "$ARTIFACTS/" 2>/dev/null || true
  find "$RUN/ud/logs" -name 'exthost*.log' -o -name '*SelMix*.log' 2>/dev/null | while read -r f; do cp "$f" "$ARTIFACTS/" 2>/dev/null || true; done
}
trap cleanup EXIT
for i in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
rc=0
CS_URL="http://127.0.0.1:$PORT/?folder=$RUN/ws" E2E_RUN="$RUN" E2E_WS="$RUN/ws" E2E_ARTIFACTS="$ARTIFACTS" PATH="/usr/bin:$PATH" node "$DRIVER" || rc=$?
echo "[e2e-run] screenshots and logs in $ARTIFACTS; run folder $RUN"
if grep -rqsE "getaddrinfo (ENOTFOUND|EAI_AGAIN)" "$RUN/ud/logs" "$RUN/code-server.log"; then
  echo "[e2e-run] WARNING: something tried to reach the network:"; grep -rhoE "getaddrinfo [A-Z_]+ [^ ]+" "$RUN/ud/logs" "$RUN/code-server.log" | sort | uniq -c
fi
exit $rc
