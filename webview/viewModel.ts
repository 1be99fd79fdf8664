// Pure helpers of the dashboard that need no DOM (tested under plain Node): number formats, the run comparison's
// curves, legend and CSV, the per-class recall at any K, and the multipliers chart's choice of classes.
import type { CompareMetric, RunCurve } from '../src/protocol/messages';

/** A number formatted by its magnitude: 3 significant digits, exponent notation only outside [0.001, 10000). */
export function fmtNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e4) return String(Number(v.toPrecision(3)));
  const [m, e] = v.toExponential(2).split('e');
  return `${String(Number(m))}e${Number(e)}`;
}

/** The comparison's metrics in words. */
export const METRIC_LABELS: Record<CompareMetric, string> = {
  objective: "each run's objective",
  minRecall: 'min recall',
  meanRecall: 'mean recall',
  gMean: 'G-mean',
  hMean: 'H-mean',
  accuracy: 'accuracy',
};

/** What a run trains, in the views' words: "whole network", "head only", or "–" when unknown. */
export function trainsText(t: 'head' | 'network' | null | undefined): string {
  return t === 'network' ? 'whole network' : t === 'head' ? 'head only' : '–';
}

/**
 * A run as the comparison's legend, table and CSV name it: its name, objective, temperature, learning rate and what it
 * trained.
 */
export function runLabel(c: Pick<RunCurve, 'name' | 'objective' | 'temperature' | 'lr' | 'trains'>): string {
  const parts = [c.name, c.objective || '?'];
  if (c.temperature !== null) parts.push(`s = ${fmtNumber(c.temperature)}`);
  if (c.lr !== null) parts.push(`lr ${fmtNumber(c.lr)}`);
  if (c.trains !== null) parts.push(trainsText(c.trains));
  return parts.join(' · ');
}

/** The curves of the compared runs for one metric, each named by runLabel (a repeated label gets a number). */
export function compareSeries(
  curves: RunCurve[],
  metric: CompareMetric,
): { name: string; points: [number, number][] }[] {
  const seen = new Map<string, number>();
  return curves.map((c) => {
    const base = runLabel(c);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const ys = c.series[metric] ?? [];
    const points = c.steps.flatMap((x, i) => (Number.isFinite(ys[i]) ? [[x, ys[i]!] as [number, number]] : []));
    return { name: n > 1 ? `${base} (${n})` : base, points };
  });
}

/** The y axis name of a comparison: the metric, or for "objective" the objective when all runs share it. */
export function compareAxisName(curves: RunCurve[], metric: CompareMetric): string {
  if (metric !== 'objective') return METRIC_LABELS[metric];
  const objs = new Set(curves.map((c) => c.objective));
  return objs.size === 1 ? [...objs][0]! : "each run's objective";
}

/**
 * One CSV cell: quoted when needed, and a text that a spreadsheet would read as a formula (a leading =, +, -, @, tab or
 * carriage return) gets a leading apostrophe. Finite numbers are written as numbers.
 */
export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const t = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(t) || t !== v ? `"${t.replace(/"/g, '""')}"` : t;
}

/** A CSV text from a header and rows (every cell through csvCell). */
export function toCsv(header: string[], rows: (string | number | null | undefined)[][]): string {
  return [header.map(csvCell).join(','), ...rows.map((r) => r.map(csvCell).join(','))].join('\n') + '\n';
}

/**
 * The comparison's data as CSV: one row per run and refresh, with each run's objective, temperature, lr and what it
 * trained.
 */
export function compareCsv(curves: RunCurve[], metric: CompareMetric): string {
  const rows = curves.flatMap((c) =>
    c.steps.map((step, i) => [
      c.name,
      c.objective,
      c.temperature,
      c.lr,
      c.trains,
      metric === 'objective' ? c.objective : metric,
      step,
      c.series[metric]?.[i] ?? null,
    ]),
  );
  return toCsv(['run', 'objective', 'temperature', 'lr', 'trains', 'metric', 'step', 'value'], rows);
}

/** Above this many classes the per-class recall shows the extremes and a distribution instead of a bar per class. */
export const RECALL_ALL_MAX = 60;
/** How many of the lowest and of the highest classes are shown at large K. */
export const RECALL_EXTREMES = 15;

/**
 * What the per-class recall chart shows: every class, or at large K the lowest and highest classes (by now) and a
 * histogram.
 */
export interface RecallView {
  classes: number[];
  /** Set at large K: how many classes fall in each tenth of [0, 1] (the last bin holds 1.0), at the start and now. */
  histogram: { bins: string[]; start: number[]; now: number[] } | null;
}

/** Chooses the classes of the per-class recall chart. */
export function recallView(start: number[] | null, now: number[] | null, K: number): RecallView {
  if (K <= RECALL_ALL_MAX || !now) return { classes: Array.from({ length: K }, (_, k) => k), histogram: null };
  const order = now.map((_, k) => k).sort((a, b) => now[a]! - now[b]! || a - b);
  const classes = [...order.slice(0, RECALL_EXTREMES), ...order.slice(-RECALL_EXTREMES)];
  const bins = Array.from({ length: 10 }, (_, i) => `${(i / 10).toFixed(1)}–${((i + 1) / 10).toFixed(1)}`);
  const hist = (r: number[] | null): number[] => {
    const h = new Array<number>(10).fill(0);
    for (const v of r ?? []) if (Number.isFinite(v)) h[Math.min(9, Math.max(0, Math.floor(v * 10)))]!++;
    return h;
  };
  return { classes, histogram: { bins, start: hist(start), now: hist(now) } };
}

/** The classes whose multipliers are drawn: all when few, else those that moved most over the run (largest range). */
export function multiplierClasses(history: (number[] | null)[], max: number): number[] {
  const rows = history.filter((m): m is number[] => m !== null);
  if (rows.length === 0) return [];
  const K = rows[rows.length - 1]!.length;
  if (K <= max) return Array.from({ length: K }, (_, k) => k);
  const range = Array.from({ length: K }, (_, k) => {
    let lo = Infinity,
      hi = -Infinity;
    for (const r of rows) {
      const v = r[k] ?? 0;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return hi - lo;
  });
  return range
    .map((_, k) => k)
    .sort((a, b) => range[b]! - range[a]! || a - b)
    .slice(0, max)
    .sort((a, b) => a - b);
}
