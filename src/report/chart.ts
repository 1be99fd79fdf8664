// A small SVG line chart for the CLI's experiment reports (a standalone file, no scripts, no fonts).

/** One line of a chart. */
export interface Series {
  name: string;
  ys: number[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** An SVG chart of several series over categorical x positions (equally spaced, labelled). */
export function lineChartSvg(xLabels: string[], series: Series[], xTitle: string): string {
  const W = 600,
    H = 340,
    L = 64,
    R = 20,
    T = 20 + 16 * series.length,
    B = 50;
  const all = series.flatMap((s) => s.ys).filter(Number.isFinite);
  const y0 = Math.min(...all),
    y1 = Math.max(...all);
  const px = (i: number) => L + (xLabels.length === 1 ? 0.5 : i / (xLabels.length - 1)) * (W - L - R);
  const py = (y: number) => H - B - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (H - T - B);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lines = series
    .map((s, k) => {
      const c = COLORS[k % COLORS.length]!;
      const pts = s.ys.map((y, i) => `${px(i).toFixed(1)},${py(y).toFixed(1)}`);
      return (
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(' ')}"/>` +
        pts.map((p) => `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${c}"/>`).join('') +
        `<text x="${L + 8}" y="${16 + 16 * k}" font-size="12" fill="${c}">${esc(s.name)}</text>`
      );
    })
    .join('\n');
  const ticks = xLabels
    .map(
      (l, i) => `<text x="${px(i).toFixed(1)}" y="${H - B + 18}" font-size="11" text-anchor="middle">${esc(l)}</text>`,
    )
    .join('');
  const yt = [y0, (y0 + y1) / 2, y1]
    .map(
      (y) => `<text x="${L - 6}" y="${(py(y) + 4).toFixed(1)}" font-size="11" text-anchor="end">${y.toFixed(3)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>
${ticks}${yt}<text x="${(L + W - R) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">${esc(xTitle)}</text>
${lines}</svg>\n`;
}
