import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { localResourceRootPaths, newNonce, renderWebviewHtml } from '../../../src/extension/webviewHtml';
import type { WebviewPage } from '../../../src/extension/webviewHtml';

const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';
const res = (p: string): string => `${cspSource}/ext${p}`;
function page(bootstrap: unknown = { snapshot: null }): WebviewPage {
  return {
    title: 'SelMix <Dashboard>',
    cspSource,
    nonce: newNonce(),
    scriptUri: res('/dist/webview/dashboard.js'),
    styleUris: [res('/media/webview.css')],
    codiconCssUri: res('/dist/webview/codicon.css'),
    bootstrap,
  };
}

/** Every start tag of the document: name and attributes (a small tokenizer is enough for our own output). */
function tags(html: string): { name: string; attrs: Map<string, string> }[] {
  const out: { name: string; attrs: Map<string, string> }[] = [];
  for (const m of html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:=(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*\/?>/g)) {
    const attrs = new Map<string, string>();
    for (const a of m[2]!.matchAll(/([^\s=>/]+)(?:=(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g))
      attrs.set(a[1]!.toLowerCase(), a[2] ?? a[3] ?? a[4] ?? '');
    out.push({ name: m[1]!.toLowerCase(), attrs });
  }
  return out;
}
const unescape = (s: string): string =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

test('CSP is default-src none, scripts only by nonce, styles/fonts/images only from the webview origin', () => {
  const html = renderWebviewHtml(page());
  const meta = tags(html).filter(
    (t) => t.name === 'meta' && t.attrs.get('http-equiv')?.toLowerCase() === 'content-security-policy',
  );
  assert.equal(meta.length, 1);
  const csp = unescape(meta[0]!.attrs.get('content')!);
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([k, ...v]) => [k!, v]),
  );
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  const scriptSrc = directives.get('script-src')!;
  assert.equal(scriptSrc.length, 1);
  assert.match(scriptSrc[0]!, /^'nonce-[A-Za-z0-9_-]{16,}'$/);
  for (const [k, v] of directives) {
    for (const s of v)
      assert.ok(!/unsafe-(inline|eval)|\*|https?:\/\/(?!file\+\.vscode-resource)/.test(s), `${k} allows ${s}`);
  }
});

test('every script and stylesheet carries the nonce of this render, and two renders differ', () => {
  const a = renderWebviewHtml(page());
  const b = renderWebviewHtml(page());
  const nonceOf = (html: string): string => /'nonce-([^']+)'/.exec(unescape(html))![1]!;
  assert.notEqual(nonceOf(a), nonceOf(b));
  for (const html of [a, b]) {
    const n = nonceOf(html);
    const scripts = tags(html).filter((t) => t.name === 'script');
    assert.ok(scripts.length >= 2);
    for (const s of scripts) assert.equal(s.attrs.get('nonce'), n);
    for (const l of tags(html).filter((t) => t.name === 'link')) assert.equal(l.attrs.get('nonce'), n);
  }
});

test('no inline event handlers, no inline styles, no javascript: URLs, no remote URLs', () => {
  const html = renderWebviewHtml(
    page({ evil: '</script><img src=x onerror=alert(1)>', url: 'https://evil.example/x.js' }),
  );
  for (const t of tags(html)) {
    for (const [k, v] of t.attrs) {
      assert.ok(!k.startsWith('on'), `inline handler ${k} on <${t.name}>`);
      assert.notEqual(k, 'style', `inline style on <${t.name}>`);
      if (k === 'src' || k === 'href')
        assert.ok(v.startsWith(cspSource + '/'), `<${t.name} ${k}="${v}"> is not a local resource`);
    }
  }
  assert.ok(!/javascript:/i.test(html));
  // The bootstrap JSON cannot close its script element or smuggle markup.
  const json = /<script type="application\/json" id="bootstrap"[^>]*>([\s\S]*?)<\/script>/.exec(html)![1]!;
  assert.ok(!json.includes('<'));
  assert.deepEqual(JSON.parse(json), {
    evil: '</script><img src=x onerror=alert(1)>',
    url: 'https://evil.example/x.js',
  });
  // The only absolute URLs in the page are webview resource URLs (the bootstrap string is escaped JSON data, not a
  // URL).
  const urls = [...html.replace(json, '').matchAll(/https?:\/\/[^\s"'<>;]+/g)].map((m) => m[0]);
  for (const u of urls) assert.ok(u.startsWith(cspSource), `remote URL ${u}`);
});

test('localResourceRoots are the extension dist/ and media/ only', () => {
  assert.deepEqual(localResourceRootPaths('/ext'), [join('/ext', 'dist'), join('/ext', 'media')]);
});

test('a page header comes with the HTML (painted before the script loads), escaped; none when not asked for', () => {
  const html = renderWebviewHtml({ ...page(), header: 'Run <b>"x"</b> & co' });
  const app = /<div id="app"[^>]*>([\s\S]*?)<\/div>/.exec(html)![1]!;
  assert.equal(
    app,
    '<header class="run-header"><h1 class="run-name" id="run-name">Run &lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; co</h1></header>',
  );
  assert.equal(/<div id="app"[^>]*>([\s\S]*?)<\/div>/.exec(renderWebviewHtml(page()))![1], '');
});
