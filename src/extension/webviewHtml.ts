// The HTML of the dashboard panel and the sidebar view, as a pure function of its inputs, so a test can
// parse it: CSP default-src 'none' with a fresh nonce per render, resources only from dist/ and media/,
// no inline handlers, and the bootstrap state as inert JSON so the first paint needs no round trip.
import { escapeHtml } from '../report/reportHtml';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { jsonSafe } from '../protocol/messages';

/** What one render of a webview page needs. */
export interface WebviewPage {
  title: string;
  /** webview.cspSource: the origin the webview serves local resources from. */
  cspSource: string;
  /** A fresh value from newNonce() for every render. */
  nonce: string;
  /** Webview URI of the page's bundle (dist/webview/*.js). */
  scriptUri: string;
  /** Webview URIs of style sheets (media/*.css). */
  styleUris: string[];
  /** Webview URI of dist/webview/codicon.css (vscode-icon looks it up by id). */
  codiconCssUri: string;
  /** The state to draw first (a RunSnapshot and settings), embedded as JSON. */
  bootstrap: unknown;
  /** Text of the page's header, painted by the HTML itself before the (large) script has loaded. */
  header?: string;
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
 * The page's one inline script: it loads the page's bundle once the document has loaded. VS Code keeps a webview's
 * frame hidden until its load event (or 200 ms), and a bundle in the document would hold that event back while it is
 * fetched and run (1.6 MB with the charts); this way the frame shows its header from the HTML first.
 */
function loaderScript(scriptUri: string, nonce: string): string {
  return (
    `(()=>{const go=()=>{const s=document.createElement('script');s.src=${jsonForScript(scriptUri)};s.nonce=${jsonForScript(nonce)};document.body.append(s);};` +
    `document.readyState==='complete'?go():addEventListener('load',go,{once:true});})();`
  );
}

/** Renders a webview page. */
export function renderWebviewHtml(p: WebviewPage): string {
  const csp = contentSecurityPolicy(p.cspSource, p.nonce);
  const styles = p.styleUris
    .map((u) => `  <link rel="stylesheet" href="${escapeHtml(u)}" nonce="${p.nonce}">`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>${escapeHtml(p.title)}</title>
  <link rel="stylesheet" href="${escapeHtml(p.codiconCssUri)}" id="vscode-codicon-stylesheet" nonce="${p.nonce}">
${styles}
</head>
<body>
  <div id="app" aria-live="polite">${p.header === undefined ? '' : `<header class="run-header"><h1 class="run-name" id="run-name">${escapeHtml(p.header)}</h1></header>`}</div>
  <script type="application/json" id="bootstrap" nonce="${p.nonce}">${jsonForScript(p.bootstrap)}</script>
  <script nonce="${p.nonce}">${loaderScript(p.scriptUri, p.nonce)}</script>
</body>
</html>
`;
}
