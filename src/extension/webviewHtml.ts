// The HTML of the dashboard panel and the sidebar view, as a pure function of its inputs, so a test can
// parse it: CSP default-src 'none' with a fresh nonce per render, resources only from dist/ and media/,
// no inline handlers, and the bootstrap state as inert JSON so the first paint needs no round trip. The
// dashboard's first paint (run name, status, stage line) is plain HTML with its style sheet inlined: it
// needs no fetch and no script (the page's bundle, 1.6 MB with the charts, loads after it).
import { escapeHtml } from '../report/reportHtml';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { jsonSafe } from '../protocol/messages';
import type { RunSnapshot } from '../protocol/messages';
import { endedWithWindow, stageLine, statusOf } from '../protocol/stageLine';

/** What one render of a webview page needs. */
export interface WebviewPage {
  title: string;
  /** webview.cspSource: the origin the webview serves local resources from. */
  cspSource: string;
  /** A fresh value from newNonce() for every render. */
  nonce: string;
  /** Webview URI of the page's bundle (dist/webview/*.js). */
  scriptUri: string;
  /** Webview URIs of style sheets (media/*.css), linked (render-blocking fetches). */
  styleUris: string[];
  /** Style sheet text put into the page itself (a nonce'd style element): the first paint waits for no fetch. */
  inlineCss?: string;
  /** Webview URI of dist/webview/codicon.css (vscode-icon looks it up by id). */
  codiconCssUri: string;
  /** The state to draw first (a RunSnapshot and settings), embedded as JSON. */
  bootstrap: unknown;
  /** Text of the page's header, painted by the HTML itself before the (large) script has loaded. */
  header?: string;
  /** The rest of the first paint under the header (the run's status, its stage line or its error), from the HTML. */
  firstPaint?: FirstPaint;
}

/** What the dashboard's HTML shows before its script runs: the run's name, status and stage line (or error). */
export interface FirstPaint {
  title: string;
  status: { key: string; label: string };
  /** The live run's stage line (the same sentence as the status bar's), or null when no run is live. */
  stage: string | null;
  /** Why the run failed, or null. */
  error: string | null;
}

/** The first paint of the dashboard for a snapshot (the host's, or the page's saved one after a window reload). */
export function firstPaintOf(s: RunSnapshot): FirstPaint {
  return {
    title: s.started?.name ?? s.stage?.name ?? 'SelMix',
    status: statusOf(s),
    stage: stageLine(s)?.text ?? null,
    error: s.status === 'failed' && s.error ? s.error : null,
  };
}

const SNAPSHOT_STATUSES: readonly string[] = ['idle', 'running', 'stopping', 'finished', 'failed'];

/**
 * The snapshot a dashboard page saved (setState: `{snapshot}`), as VS Code hands it to the serializer after a reload;
 * a run it showed live ended with the window. Undefined when the state is not one.
 */
export function savedSnapshotOf(state: unknown): RunSnapshot | undefined {
  const snap = typeof state === 'object' && state !== null ? (state as { snapshot?: unknown }).snapshot : undefined;
  if (typeof snap !== 'object' || snap === null || typeof (snap as { status?: unknown }).status !== 'string')
    return undefined;
  const s = snap as RunSnapshot;
  if (!SNAPSHOT_STATUSES.includes(s.status)) return undefined;
  return s.status === 'running' || s.status === 'stopping' ? endedWithWindow(s) : s;
}

/** A random nonce for one render (128 bits, base64url). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The only folders a webview may load from: the extension's dist/ and media/. */
export function localResourceRootPaths(extensionPath: string): string[] {
  return [join(extensionPath, 'dist'), join(extensionPath, 'media')];
}

/** The Content-Security-Policy of a page: nothing by default, local styles/fonts/images, nonce'd scripts. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

/** JSON that is safe inside a <script> element (no "</script>", no HTML comment openers, no line separators). */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value ?? null, jsonSafe)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The page's one inline script: it loads the codicon style sheet and the page's bundle once the document has loaded.
 * VS Code keeps a webview's frame hidden until its load event (or 200 ms), and a bundle in the document would hold
 * that event back while it is fetched and run (1.6 MB with the charts); this way the frame shows its header and stage
 * line from the HTML first. It also records when the page first painted (epoch ms, the first contentful paint) on
 * <body data-fcp-at>, and, when that paint showed a live run's stage line, on <body data-stage-painted-at>.
 */
function loaderScript(scriptUri: string, codiconCssUri: string, nonce: string): string {
  const n = jsonForScript(nonce);
  return (
    `(()=>{const b=document.body;try{new PerformanceObserver((l)=>{for(const e of l.getEntries())if(e.name==='first-contentful-paint'){` +
    `const at=String(Math.round(performance.timeOrigin+e.startTime));b.dataset.fcpAt=at;` +
    `if(document.getElementById('stage-line')&&!b.dataset.stagePaintedAt)b.dataset.stagePaintedAt=at;}}).observe({type:'paint',buffered:true});}catch{}` +
    `const go=()=>{const c=document.createElement('link');c.rel='stylesheet';c.id='vscode-codicon-stylesheet';c.href=${jsonForScript(codiconCssUri)};c.nonce=${n};document.head.append(c);` +
    `const s=document.createElement('script');s.src=${jsonForScript(scriptUri)};s.nonce=${n};b.append(s);};` +
    `document.readyState==='complete'?go():addEventListener('load',go,{once:true});})();`
  );
}

/** The first paint's markup inside #app: header (name, status), stage line or error. */
function firstPaintHtml(header: string | undefined, fp: FirstPaint | undefined): string {
  if (header === undefined && fp === undefined) return '';
  const title = escapeHtml(fp?.title ?? header ?? '');
  const badge = fp
    ? `<span class="status-badge" data-status="${escapeHtml(fp.status.key)}">${escapeHtml(fp.status.label)}</span>`
    : '';
  const line = fp?.stage
    ? `<p class="stage-line" id="stage-line" role="status">${escapeHtml(fp.stage)}</p>`
    : fp?.error
      ? `<p class="error" id="error">Run failed: ${escapeHtml(fp.error)}</p>`
      : '';
  return `<header class="run-header"><h1 class="run-name" id="run-name">${title}</h1>${badge}</header>${line}`;
}

/** Renders a webview page. */
export function renderWebviewHtml(p: WebviewPage): string {
  const csp = contentSecurityPolicy(p.cspSource, p.nonce);
  if (p.inlineCss?.includes('</')) throw new Error('an inlined style sheet may not contain "</"');
  const styles =
    p.inlineCss !== undefined
      ? `  <style nonce="${p.nonce}">${p.inlineCss}</style>`
      : p.styleUris.map((u) => `  <link rel="stylesheet" href="${escapeHtml(u)}" nonce="${p.nonce}">`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>${escapeHtml(p.title)}</title>
${styles}
</head>
<body>
  <div id="app" aria-live="polite">${firstPaintHtml(p.header, p.firstPaint)}</div>
  <script type="application/json" id="bootstrap" nonce="${p.nonce}">${jsonForScript(p.bootstrap)}</script>
  <script nonce="${p.nonce}">${loaderScript(p.scriptUri, p.codiconCssUri, p.nonce)}</script>
</body>
</html>
`;
}
