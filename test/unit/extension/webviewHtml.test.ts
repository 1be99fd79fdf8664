import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  firstPaintOf,
  localResourceRootPaths,
  newNonce,
  renderWebviewHtml,
  savedSnapshotOf,
} from '../../../src/extension/webviewHtml';
import { applyEvent, emptySnapshot } from '../../../src/protocol/messages';
import type { RunEvent } from '../../../src/protocol/messages';
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

const stage = (name: string): RunEvent => ({
  type: 'run/stage',
  payload: { stage: 'starting', label: 'starting the training worker', done: 0, total: 0, etaSeconds: null, name },
});

test("the dashboard's first paint: a live run's name, status and stage line, from the HTML alone", () => {
  const live = applyEvent(emptySnapshot(), stage('Run <1>'));
  const fp = firstPaintOf(live);
  assert.deepEqual(fp, {
    title: 'Run <1>',
    status: { key: 'starting', label: 'Starting…' },
    stage: 'starting the training worker…',
    error: null,
  });
  const html = renderWebviewHtml({ ...page(), firstPaint: fp });
  const app = /<div id="app"[^>]*>([\s\S]*?)<\/div>/.exec(html)![1]!;
  assert.equal(
    app,
    '<header class="run-header"><h1 class="run-name" id="run-name">Run &lt;1&gt;</h1>' +
      '<span class="status-badge" data-status="starting">Starting…</span></header>' +
      '<p class="stage-line" id="stage-line" role="status">starting the training worker…</p>',
  );
  // No run: no stage line (the page's script does not count a live run that is not there).
  const idle = renderWebviewHtml({ ...page(), firstPaint: firstPaintOf(emptySnapshot()) });
  assert.ok(html.includes('id="stage-line"'));
  assert.ok(!idle.includes('id="stage-line"'));
  assert.match(
    idle,
    /<h1 class="run-name" id="run-name">SelMix<\/h1><span class="status-badge" data-status="idle">No run yet/,
  );
});

test('a failed run paints its error first; a saved snapshot of a live run is shown as ended with the window', () => {
  const live = applyEvent(emptySnapshot(), stage('R'));
  const restored = savedSnapshotOf({ snapshot: live })!;
  assert.equal(restored.status, 'failed');
  const fp = firstPaintOf(restored);
  assert.equal(fp.stage, null);
  assert.match(fp.error!, /ended when the window reloaded/);
  const html = renderWebviewHtml({ ...page(), firstPaint: fp });
  assert.match(html, /<p class="error" id="error">Run failed: the run ended when the window reloaded/);
  // Not a saved snapshot: nothing to paint from.
  for (const bad of [undefined, null, 3, {}, { snapshot: null }, { snapshot: { status: 'bogus' } }, { snapshot: [] }])
    assert.equal(savedSnapshotOf(bad), undefined, JSON.stringify(bad));
  const finished = { ...emptySnapshot(), status: 'finished' as const };
  assert.equal(savedSnapshotOf({ snapshot: finished }), finished);
});

test("an inlined style sheet goes into a nonce'd style element (no render-blocking link); codicons load with the script", () => {
  const p = page();
  const html = renderWebviewHtml({ ...p, inlineCss: 'body { color: red; }' });
  const style = /<style nonce="([^"]+)">([\s\S]*?)<\/style>/.exec(html);
  assert.ok(style, 'a style element');
  assert.equal(style[1], p.nonce);
  assert.equal(style[2], 'body { color: red; }');
  assert.equal(
    tags(html).filter((t) => t.name === 'link').length,
    0,
    'no link element: nothing to fetch before the first paint',
  );
  const loader = [...html.matchAll(/<script nonce="[^"]+">([\s\S]*?)<\/script>/g)].map((m) => m[1]!).join('');
  assert.ok(loader.includes(JSON.stringify(p.codiconCssUri)), 'the loader adds the codicon style sheet');
  assert.ok(loader.includes('vscode-codicon-stylesheet'));
  assert.ok(loader.includes('first-contentful-paint'), 'the loader records the first paint');
  // Without inlineCss the sheets are linked.
  assert.equal(tags(renderWebviewHtml(p)).filter((t) => t.name === 'link').length, 1);
  assert.throws(() => renderWebviewHtml({ ...p, inlineCss: 'a{}</style><script>x</script>' }), /may not contain/);
});
