// A finished run as a readable, self-contained HTML page (report.html beside report.json, and the "Open Report"
// webview): the settings, before/after on every split, a per-class table and the charts as SVG images. No
// script, no external resource: its CSP allows only its own style (by hash) and data: images. Pure: no vscode, no
// file system (src/report/reportPage.ts writes it; the CLI and the extension both call that).
import { createHash } from 'node:crypto';
import type { FlatMatrix, MetricsReport, RunFinishedPayload, RunSnapshot } from '../protocol/messages';
import { creditRows, pointsText } from '../protocol/credit';
import { pseudoLabelLine } from '../protocol/pseudoLabels';

/** Text safe inside HTML elements and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --line: #d1d9e0; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --line: #3d444d; --accent: #4493f8; } }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 24px auto; max-width: 1100px; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 24px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 2px; }
.muted { color: var(--muted); } table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 6px 0; }
th, td { padding: 2px 10px; border-bottom: 1px solid var(--line); text-align: left; } td.num { text-align: right; }
.up { color: #1a7f37; } .down { color: #cf222e; } .warning { border: 2px solid #cf222e; padding: 6px 10px; border-radius: 4px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
img { max-width: 100%; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
pre { background: rgba(128, 128, 128, 0.1); padding: 8px; overflow: auto; font-size: 0.85em; }
`;

/** The report's Content-Security-Policy: nothing but its own style element and data: images. */
export function reportCsp(): string {
  const hash = createHash('sha256').update(STYLE).digest('base64');
  return `default-src 'none'; img-src data:; style-src 'sha256-${hash}'`;
}

const fmt = (v: number | null | undefined, d = 3): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d);
const metricOf = (m: MetricsReport | undefined, key: string): number | null => {
  const v = m ? (m as unknown as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' ? v : null;
};
const svgUri = (svg: string): string => `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

/** A line chart of [x, y] series as SVG. */
export function lineSvg(
  series: { name: string; color: string; points: [number, number][] }[],
  yLabel: string,
  w = 520,
  h = 260,
): string {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const pad = { l: 48, r: 12, t: 24, b: 36 };
  if (all.length === 0)
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><text x="20" y="40" font-family="sans-serif" font-size="12">no data</text></svg>`;
  const xs = all.map((p) => p[0]),
    ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) {
    y0 -= 0.05;
    y1 += 0.05;
  }
  const X = (x: number): number => pad.l + ((x - x0) / Math.max(1e-12, x1 - x0)) * (w - pad.l - pad.r);
  const Y = (y: number): number => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => y0 + t * (y1 - y0));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="10"><rect width="100%" height="100%" fill="#fff"/>`,
  ];
  for (const t of ticks)
    parts.push(
      `<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#ddd"/><text x="${pad.l - 4}" y="${(Y(t) + 3).toFixed(1)}" text-anchor="end" fill="#555">${t.toPrecision(3)}</text>`,
    );
  parts.push(`<text x="${pad.l - 40}" y="${pad.t - 8}" fill="#555">${escapeHtml(yLabel)}</text>`);
  for (const t of [0, 0.5, 1]) {
    const x = x0 + t * (x1 - x0);
    parts.push(
      `<text x="${X(x).toFixed(1)}" y="${h - pad.b + 14}" text-anchor="middle" fill="#555">${Math.round(x)}</text>`,
    );
  }
  parts.push(`<text x="${(pad.l + w - pad.r) / 2}" y="${h - 6}" text-anchor="middle" fill="#555">step</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const step = Math.max(1, Math.floor(pts.length / 800));
    const d = pts
      .filter((_, k) => k % step === 0 || k === pts.length - 1)
      .map(([x, y], k) => `${k ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      .join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/><rect x="${pad.l + 8 + i * 130}" y="6" width="10" height="3" fill="${s.color}"/><text x="${pad.l + 22 + i * 130}" y="11" fill="#333">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Per-class bars, start against after, as SVG. */
export function barsSvg(
  names: string[],
  start: number[] | undefined,
  after: number[] | undefined,
  w = 1060,
  h = 240,
): string {
  const K = names.length;
  const pad = { l: 36, r: 8, t: 20, b: K <= 30 ? 56 : 24 };
  const bw = (w - pad.l - pad.r) / Math.max(1, K);
  const Y = (v: number): number => h - pad.b - Math.max(0, Math.min(1, v)) * (h - pad.t - pad.b);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="10"><rect width="100%" height="100%" fill="#fff"/>`,
  ];
  for (const t of [0, 0.5, 1])
    parts.push(
      `<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(t)}" y2="${Y(t)}" stroke="#ddd"/><text x="${pad.l - 4}" y="${Y(t) + 3}" text-anchor="end" fill="#555">${t}</text>`,
    );
  for (let k = 0; k < K; k++) {
    const x = pad.l + k * bw;
    if (start?.[k] !== undefined)
      parts.push(
        `<rect x="${(x + bw * 0.1).toFixed(2)}" y="${Y(start[k]!).toFixed(1)}" width="${(bw * 0.4).toFixed(2)}" height="${(h - pad.b - Y(start[k]!)).toFixed(1)}" fill="#aaa"/>`,
      );
    if (after?.[k] !== undefined)
      parts.push(
        `<rect x="${(x + bw * 0.5).toFixed(2)}" y="${Y(after[k]!).toFixed(1)}" width="${(bw * 0.4).toFixed(2)}" height="${(h - pad.b - Y(after[k]!)).toFixed(1)}" fill="#0969da"/>`,
      );
    if (K <= 30)
      parts.push(
        `<text transform="translate(${(x + bw / 2).toFixed(1)},${h - pad.b + 10}) rotate(-40)" text-anchor="end" fill="#555">${escapeHtml(names[k]!)}</text>`,
      );
  }
  parts.push(
    `<rect x="${pad.l + 8}" y="5" width="10" height="8" fill="#aaa"/><text x="${pad.l + 22}" y="12" fill="#333">start</text><rect x="${pad.l + 68}" y="5" width="10" height="8" fill="#0969da"/><text x="${pad.l + 82}" y="12" fill="#333">after (best iterate)</text></svg>`,
  );
  return parts.join('');
}

/** A matrix as an SVG heatmap (downsampled to at most 60 x 60 cells by block means of |max|). */
export function heatmapSvg(m: FlatMatrix, kind: 'gain' | 'dist', size = 320): string {
  const K = m.K;
  if (K === 0 || m.data.length !== K * K)
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="40"><text x="10" y="24" font-family="sans-serif" font-size="12">not saved</text></svg>`;
  const b = Math.ceil(K / 60),
    n = Math.ceil(K / b);
  const cells = new Array<number>(n * n).fill(0);
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) {
      const c = Math.floor(i / b) * n + Math.floor(j / b);
      const v = m.data[i * K + j]!;
      if (kind === 'dist') cells[c]! += v;
      else if (Math.abs(v) > Math.abs(cells[c]!)) cells[c] = v;
    }
  const top = Math.max(1e-12, ...cells.map(Math.abs));
  const cs = size / n;
  const colour = (v: number): string => {
    if (kind === 'gain') {
      const t = v / top;
      const [r, g, bl] = t >= 0 ? [255, 255 - 200 * t, 255 - 200 * t] : [255 + 200 * t, 255 + 130 * t, 255];
      return `rgb(${Math.round(r)},${Math.round(g)},${Math.round(bl)})`;
    }
    const t = Math.sqrt(Math.max(0, v) / top);
    return `rgb(${Math.round(255 - 128 * t)},${Math.round(255 - 216 * t)},${Math.round(255 - 251 * t)})`;
  };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" shape-rendering="crispEdges">`,
  ];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      parts.push(
        `<rect x="${(j * cs).toFixed(2)}" y="${(i * cs).toFixed(2)}" width="${(cs + 0.05).toFixed(2)}" height="${(cs + 0.05).toFixed(2)}" fill="${colour(cells[i * n + j]!)}"/>`,
      );
  parts.push('</svg>');
  return parts.join('');
}

/** What a report page shows: the parsed report.json, its snapshot (matrices restored) and where it lies. */
export interface ReportPageInput {
  reportPath: string;
  json: Record<string, unknown>;
  snapshot: RunSnapshot;
  /** The run's log file, when it has one. */
  logPath?: string;
}

/** The objective split into the starting model, the warm start and SelMix's own change (table#credit, one row each). */
export function creditTableHtml(f: RunFinishedPayload): string {
  const rows = creditRows(f);
  const hasTest = rows.some((r) => r.test !== null);
  const change = (v: number | null): string =>
    `<td class="num ${v === null ? '' : v > 1e-9 ? 'up' : v < -1e-9 ? 'down' : ''}">${v === null ? '' : pointsText(v)}</td>`;
  const out = [
    `<table id="credit"><caption>${escapeHtml(f.objective)}: where the change came from (points = % x 100 of the objective)</caption>`,
    `<tr><th></th><th>Validation</th><th>change</th>${hasTest ? '<th>Test</th><th>change</th>' : ''}</tr>`,
  ];
  for (const r of rows) {
    out.push(
      `<tr data-credit="${r.key}"><th>${escapeHtml(r.label)}</th><td class="num">${fmt(r.val)}</td>${change(r.changeVal)}${hasTest ? `<td class="num">${fmt(r.test)}</td>${change(r.changeTest)}` : ''}</tr>`,
    );
  }
  out.push('</table>');
  return out.join('');
}

/** The report of a finished run as one self-contained HTML document. */
export function renderReportHtml(r: ReportPageInput): string {
  const s = r.snapshot;
  const f: RunFinishedPayload | null = s.finished;
  const name =
    s.started?.name ??
    (typeof (r.json.config as { name?: unknown } | undefined)?.name === 'string'
      ? String((r.json.config as { name: string }).name)
      : 'SelMix run');
  const K = s.started?.K ?? f?.after.val.recall.length ?? 0;
  const names = Array.from({ length: K }, (_, k) => s.started?.classNames[k] ?? String(k));
  const hasTest = !!(f?.before.test || f?.after.test);
  const how = !f
    ? 'not finished'
    : f.stoppedBy === 'cancel'
      ? `stopped at step ${f.steps}`
      : f.stoppedBy === 'earlyStop'
        ? `stopped early at step ${f.steps}`
        : `finished ${f.steps} steps`;
  const out: string[] = [];
  out.push(
    `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><meta http-equiv="Content-Security-Policy" content="${escapeHtml(reportCsp())}">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(name)}: SelMix report</title><style>${STYLE}</style></head><body>`,
  );
  out.push(
    `<h1>${escapeHtml(name)}</h1><p class="muted">SelMix run ${escapeHtml(how)}${f ? ` in ${fmt(f.wallSeconds, 1)} s` : ''}; objective <b>${escapeHtml(f?.objective ?? s.started?.objective ?? '')}</b>; backend ${escapeHtml(String(r.json.backend ?? s.started?.backend ?? ''))}; K = ${K}.</p>`,
  );
  const chance = r.json.startAtChance as { message?: unknown } | undefined;
  if (chance && typeof chance.message === 'string')
    out.push(`<p class="warning" id="start-at-chance"><b>Warning:</b> ${escapeHtml(chance.message)}</p>`);
  if (f) {
    out.push('<h2>Results</h2>');
    out.push(creditTableHtml(f));
    out.push(
      `<p>"After" is the best iterate (step ${f.bestStep}), the model the run keeps and writes; the last refresh was at step ${s.lastRefresh?.step ?? '–'}.${hasTest ? '' : ' This run had no test set (data.test), so only validation is shown.'}</p>`,
    );
    if (f.pseudoLabels) out.push(`<p id="pseudo-labels">${escapeHtml(pseudoLabelLine(f.pseudoLabels))}.</p>`);
    const keys: [string, string][] = [
      [f.objective, `${f.objective} (objective)`],
      ['accuracy', 'accuracy'],
      ['meanRecall', 'mean recall'],
      ['minRecall', 'min recall'],
      ['gMean', 'G-mean'],
      ['hMean', 'H-mean'],
      ['minCoverage', 'min coverage'],
    ];
    const seen = new Set<string>();
    out.push(
      `<table id="results"><tr><th></th><th>Validation: start</th><th>Validation: after</th>${hasTest ? '<th>Test: start</th><th>Test: after</th>' : ''}</tr>`,
    );
    for (const [k, label] of keys) {
      if (seen.has(k)) continue;
      seen.add(k);
      const cell = (a: number | null, b: number | null): string =>
        `<td class="num">${fmt(a)}</td><td class="num ${a !== null && b !== null ? (b > a + 1e-9 ? 'up' : b < a - 1e-9 ? 'down' : '') : ''}">${fmt(b)}</td>`;
      const vb = k === f.objective ? f.before.objectiveValue : metricOf(f.before.val, k);
      const va = k === f.objective ? f.after.objectiveValue : metricOf(f.after.val, k);
      out.push(
        `<tr data-metric="${escapeHtml(k)}"><th>${escapeHtml(label)}</th>${cell(vb, va)}${hasTest ? cell(metricOf(f.before.test, k), metricOf(f.after.test, k)) : ''}</tr>`,
      );
    }
    out.push('</table>');
    const feas = (
      x: { constraint: string; bound: number; value: number; met: boolean } | undefined,
      split: string,
    ): string =>
      x
        ? `<p class="${x.met ? '' : 'down'}" data-feasibility="${split}">Constraint on ${split} at the kept iterate: ${escapeHtml(x.constraint)} ${fmt(x.value)} ≥ ${fmt(x.bound)}: <b>${x.met ? 'met' : 'not met'}</b>.</p>`
        : '';
    const ff = (f as { feasibility?: { val?: Parameters<typeof feas>[0]; test?: Parameters<typeof feas>[0] } })
      .feasibility;
    out.push(feas(ff?.val, 'validation'), feas(ff?.test, 'test'));
    if (f.infeasible) out.push(`<p class="down" id="infeasible">${escapeHtml(f.infeasible)}</p>`);
    out.push('<h2>Per class</h2>');
    out.push(
      `<table id="per-class"><tr><th>class</th><th>val support</th><th>val recall: start</th><th>val recall: after</th>${hasTest ? '<th>test support</th><th>test recall: start</th><th>test recall: after</th>' : ''}</tr>`,
    );
    for (let k = 0; k < K; k++) {
      out.push(
        `<tr><th>${escapeHtml(names[k]!)}</th><td class="num">${f.after.val.support?.[k] ?? '–'}</td><td class="num">${fmt(f.before.val.recall[k])}</td><td class="num">${fmt(f.after.val.recall[k])}</td>` +
          (hasTest
            ? `<td class="num">${f.after.test?.support?.[k] ?? '–'}</td><td class="num">${fmt(f.before.test?.recall[k])}</td><td class="num">${fmt(f.after.test?.recall[k])}</td>`
            : '') +
          '</tr>',
      );
    }
    out.push('</table>');
  }
  out.push('<h2>Charts</h2><div class="charts">');
  const h = s.history;
  const objective = f?.objective ?? s.started?.objective ?? 'objective';
  const curves = [
    { name: `${objective} (val)`, color: '#cf222e', points: h.map((x) => [x.step, x.objective] as [number, number]) },
  ];
  if (!h.every((x) => Math.abs(x.meanRecall - x.objective) < 1e-12))
    curves.push({ name: 'mean recall', color: '#0969da', points: h.map((x) => [x.step, x.meanRecall]) });
  if (!h.every((x) => Math.abs(x.minRecall - x.objective) < 1e-12))
    curves.push({ name: 'min recall', color: '#bc4c00', points: h.map((x) => [x.step, x.minRecall]) });
  out.push(
    `<figure><figcaption>Objective and recall (validation, every refresh)</figcaption><img alt="objective curve" src="${svgUri(lineSvg(curves, 'value'))}"></figure>`,
  );
  out.push(
    `<figure><figcaption>Training loss</figcaption><img alt="loss curve" src="${svgUri(lineSvg([{ name: 'loss', color: '#8250df', points: s.losses.map((x) => [x.step, x.loss]) }], 'loss'))}"></figure>`,
  );
  if (f)
    out.push(
      `<figure><figcaption>Per-class recall (validation)</figcaption><img alt="per-class recall" src="${svgUri(barsSvg(names, f.before.val.recall, f.after.val.recall))}"></figure>`,
    );
  if (s.lastRefresh) {
    out.push(
      `<figure><figcaption>Gain matrix G at step ${s.lastRefresh.step}</figcaption><img alt="gain matrix" src="${svgUri(heatmapSvg(s.lastRefresh.gain, 'gain'))}"></figure>`,
    );
    out.push(
      `<figure><figcaption>Sampling distribution P at step ${s.lastRefresh.step}</figcaption><img alt="sampling distribution" src="${svgUri(heatmapSvg(s.lastRefresh.distribution, 'dist'))}"></figure>`,
    );
  }
  out.push('</div>');
  const notes = Array.isArray(r.json.notes)
    ? (r.json.notes as unknown[]).filter((n): n is string => typeof n === 'string')
    : [];
  if (notes.length) out.push(`<h2>Notes</h2><ul>${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`);
  out.push(`<h2>Settings</h2><pre>${escapeHtml(JSON.stringify(r.json.config ?? {}, null, 2))}</pre>`);
  out.push(
    `<h2>Files</h2><p class="muted">${escapeHtml(r.reportPath)}${r.logPath ? `<br>log: ${escapeHtml(r.logPath)}` : ''}</p>`,
  );
  out.push('</body></html>\n');
  return out.join('\n');
}
