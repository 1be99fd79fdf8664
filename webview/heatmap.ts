// The G and P heatmaps on one canvas each, drawn in one synchronous pass: the n x n cells go into an ImageData
// of n x n pixels, which is scaled onto the canvas without smoothing, so a K = 100 matrix (10,000 cells) costs
// about a millisecond and a frame never shows a half-painted matrix. Labels, the colour bar and a hover
// readout are drawn around it; nothing here creates a DOM node per cell.
import type { FlatMatrix } from '../src/protocol/messages';
import type { Palette } from './charts';

/** Which matrix: G on a diverging scale centred on 0, or P on a sequential one. */
export type HeatmapKind = 'gain' | 'dist';

type Rgb = [number, number, number];

/** A CSS colour as RGB (the canvas parses it; falls back to grey). */
function rgbOf(css: string, ctx: CanvasRenderingContext2D): Rgb {
  ctx.fillStyle = '#808080';
  ctx.fillStyle = css;
  const v = String(ctx.fillStyle);
  const hex = /^#([0-9a-f]{6})$/i.exec(v);
  if (hex) {
    const n = parseInt(hex[1]!, 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [128, 128, 128];
}

const mix = (a: Rgb, b: Rgb, t: number): Rgb => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];

/** A colour ramp through stops at equal spacing, t in [0, 1]. */
function ramp(stops: Rgb[], t: number): Rgb {
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  return mix(stops[i]!, stops[i + 1]!, x - i);
}

/** Relative luminance in [0, 1] (sRGB, approximate). */
const luminance = (c: Rgb): number => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;

/**
 * The colour stops of a kind for a theme. P runs from the background through orange to a colour far from the
 * background (dark red on light themes, pale yellow on dark ones), so its high end is as strong in Light Modern
 * as in Dark Modern.
 */
export function heatmapStops(kind: HeatmapKind, p: Palette, ctx: CanvasRenderingContext2D): Rgb[] {
  const bg = rgbOf(p.bg, ctx);
  const light = luminance(bg) > 0.5;
  if (kind === 'gain') return [rgbOf(p.blue, ctx), bg, rgbOf(p.red, ctx)];
  return light
    ? [bg, [253, 174, 97], [230, 85, 13], [127, 39, 4]]
    : [bg, [166, 84, 20], [241, 150, 40], [255, 240, 190]];
}

/** What a heatmap shows: the matrix and how to name its rows and columns. */
export interface HeatmapData {
  m: FlatMatrix;
  kind: HeatmapKind;
  /** Row and column labels (class names, or class ranges when downsampled). */
  labels: string[];
  /** What one cell's value is, for the readout. */
  what: string;
}

/** A heatmap in a container: draw() paints it in one pass; it repaints itself when resized. */
export class Heatmap {
  readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLElement;
  private data: HeatmapData | null = null;
  private palette: Palette | null = null;
  private geometry = { x0: 0, y0: 0, cell: 0, n: 0 };

  constructor(private readonly dom: HTMLElement) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'heatmap-canvas';
    this.readout = document.createElement('div');
    this.readout.className = 'heatmap-readout';
    this.readout.hidden = true;
    dom.classList.add('heatmap');
    dom.append(this.canvas, this.readout);
    new ResizeObserver(() => this.paint()).observe(dom);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => {
      this.readout.hidden = true;
    });
  }

  /** Draws a matrix (replacing the previous one) in one pass. */
  draw(data: HeatmapData, p: Palette): void {
    this.data = data;
    this.palette = p;
    this.paint();
  }

  /** Clears the heatmap (a new run without SelMix state yet). */
  clear(): void {
    this.data = null;
    this.paint();
  }

  /** The image of the heatmap as a PNG data URL (for export). */
  toDataUrl(): string {
    return this.canvas.toDataURL('image/png');
  }

  private paint(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, this.dom.clientWidth);
    const h = Math.max(1, this.dom.clientHeight);
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const d = this.data;
    const p = this.palette;
    if (!d || !p || d.m.K === 0 || d.m.data.length !== d.m.K * d.m.K) {
      this.geometry.n = 0;
      return;
    }
    const n = d.m.K;
    let maxAbs = 0;
    for (const v of d.m.data) if (Number.isFinite(v) && Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
    const top = maxAbs > 0 ? maxAbs : 1e-12;
    const stops = heatmapStops(d.kind, p, ctx);
    const font = `10px ${getComputedStyle(document.body).fontFamily || 'sans-serif'}`;
    ctx.font = font;
    const showNames = n <= 40;
    const every = showNames ? Math.max(1, Math.ceil(n / 20)) : Math.max(1, Math.ceil(n / 10));
    let labelW = 0;
    for (let k = 0; k < n; k += every) labelW = Math.max(labelW, ctx.measureText(d.labels[k] ?? '').width);
    labelW = Math.min(90, labelW);
    let left = labelW + 22;
    const topPad = 34;
    const bottom = Math.min(90, labelW * 0.75 + 10) + 18;
    const size = Math.max(10, Math.min(w - left - 8, h - topPad - bottom));
    const cell = size / n;
    // Centred in the space right of the labels.
    left += Math.max(0, (w - left - 8 - size) / 2);
    this.geometry = { x0: left, y0: topPad, cell, n };
    // Where the cells are (CSS pixels): lets the e2e read a cell's painted colour back from the canvas.
    this.dom.dataset.geometry = `${left},${topPad},${cell},${n}`;

    // The cells: one ImageData of n x n pixels, scaled up without smoothing.
    const img = new ImageData(n, n);
    const px = img.data;
    for (let i = 0; i < n * n; i++) {
      const v = d.m.data[i]!;
      const t = !Number.isFinite(v) ? 0.5 : d.kind === 'gain' ? (v / top + 1) / 2 : v / top;
      const c = ramp(stops, d.kind === 'dist' && !Number.isFinite(v) ? 0 : t);
      px[4 * i] = c[0];
      px[4 * i + 1] = c[1];
      px[4 * i + 2] = c[2];
      px[4 * i + 3] = 255;
    }
    const off = document.createElement('canvas');
    off.width = n;
    off.height = n;
    off.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, left, topPad, size, size);
    ctx.strokeStyle = p.grid;
    ctx.lineWidth = 1;
    ctx.strokeRect(left - 0.5, topPad - 0.5, size + 1, size + 1);

    // Labels: rows (anchor i) on the left, columns (partner j) below, rotated.
    ctx.fillStyle = p.muted;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let k = 0; k < n; k += every)
      ctx.fillText(clip(ctx, d.labels[k] ?? '', labelW), left - 4, topPad + (k + 0.5) * cell);
    ctx.save();
    for (let k = 0; k < n; k += every) {
      ctx.save();
      ctx.translate(left + (k + 0.5) * cell, topPad + size + 4);
      ctx.rotate(-Math.PI / 4);
      ctx.textAlign = 'right';
      ctx.fillText(clip(ctx, d.labels[k] ?? '', labelW), 0, 0);
      ctx.restore();
    }
    ctx.restore();
    ctx.textAlign = 'center';
    ctx.fillText('partner j', left + size / 2, topPad + size + bottom - 6);
    ctx.save();
    ctx.translate(8, topPad + size / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText('anchor i', 0, 0);
    ctx.restore();

    // The colour bar, centred above the matrix.
    const barW = Math.min(160, size * 0.6);
    const bx = left + (size - barW) / 2;
    const grad = ctx.createLinearGradient(bx, 0, bx + barW, 0);
    stops.forEach((s, i) => grad.addColorStop(i / (stops.length - 1), `rgb(${s.map(Math.round).join(',')})`));
    ctx.fillStyle = grad;
    ctx.fillRect(bx, 8, barW, 10);
    ctx.strokeStyle = p.grid;
    ctx.strokeRect(bx - 0.5, 7.5, barW + 1, 11);
    ctx.fillStyle = p.muted;
    ctx.textAlign = 'right';
    ctx.fillText(d.kind === 'gain' ? `−${top.toPrecision(2)}` : '0', bx - 4, 13);
    ctx.textAlign = 'left';
    ctx.fillText(d.kind === 'gain' ? `+${top.toPrecision(2)}` : top.toPrecision(2), bx + barW + 4, 13);
  }

  private hover(e: MouseEvent): void {
    const d = this.data;
    const g = this.geometry;
    if (!d || g.n === 0) return;
    const r = this.canvas.getBoundingClientRect();
    const j = Math.floor((e.clientX - r.left - g.x0) / g.cell);
    const i = Math.floor((e.clientY - r.top - g.y0) / g.cell);
    if (i < 0 || j < 0 || i >= g.n || j >= g.n) {
      this.readout.hidden = true;
      return;
    }
    const v = d.m.data[i * g.n + j] ?? 0;
    this.readout.textContent = `anchor ${d.labels[i]} → partner ${d.labels[j]}: ${d.what} = ${v.toPrecision(4)}`;
    this.readout.hidden = false;
    // CSSOM, not a style attribute: allowed by the CSP.
    this.readout.style.left = `${Math.min(r.width - 220, e.clientX - r.left + 12)}px`;
    this.readout.style.top = `${e.clientY - r.top + 12}px`;
  }
}

/** Text shortened with an ellipsis to fit a width. */
function clip(ctx: CanvasRenderingContext2D, s: string, w: number): string {
  if (ctx.measureText(s).width <= w) return s;
  let t = s;
  while (t.length > 1 && ctx.measureText(t + '…').width > w) t = t.slice(0, -1);
  return t + '…';
}
