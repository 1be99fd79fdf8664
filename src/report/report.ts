// report.json: small at any K. The large matrices of a run (the final gain matrix G, the sampling distribution
// P, the multipliers at every refresh) are written once, as .npy files beside it, and referenced by name;
// readReport puts them back, so the dashboard shows a past run as it was. The report a new one replaces is kept
// in the output folder's history (src/data/runArchive.ts).
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  COMPARE_METRICS,
  type CompareMetric,
  type FlatMatrix,
  type MetricsReport,
  type RefreshPayload,
  type RunCurve,
  type RunFinishedPayload,
  type RunListing,
  type RunSnapshot,
} from '../protocol/messages';
import { encodeNpy, readNpy } from '../data/npy';
import { writeFilesAtomic } from '../data/atomicWrite';
import { archivePreviousRun, dropArchive } from '../data/runArchive';

/** The .npy files a report refers to (in its "matrices" field), relative to its folder. */
export const REPORT_MATRICES = {
  gain: 'gain.npy',
  distribution: 'distribution.npy',
  multipliers: 'multipliers.npy',
} as const;

/** A file to write with the report, all or none. */
export interface OutputFile {
  path: string;
  data: Uint8Array | string;
}

function stripMatrix(m: FlatMatrix, file: string): FlatMatrix {
  return { K: m.K, data: [], file, ...(m.block !== undefined ? { block: m.block } : {}) };
}

function stripRefresh(r: RefreshPayload | null): RefreshPayload | null {
  return r
    ? {
        ...r,
        gain: stripMatrix(r.gain, REPORT_MATRICES.gain),
        distribution: stripMatrix(r.distribution, REPORT_MATRICES.distribution),
      }
    : null;
}

/**
 * Writes report.json with the matrices of its snapshot moved to .npy files beside it, together with `withFiles`
 * (a head's W.npy and b.npy), atomically: all of them or none. `report.snapshot` is the run's final snapshot.
 */
export function writeReport(
  outputDir: string,
  report: { snapshot: RunSnapshot } & Record<string, unknown>,
  withFiles: OutputFile[] = [],
): void {
  const snap = report.snapshot;
  const files: OutputFile[] = [...withFiles];
  const matrices: Record<string, string> = {};
  const last = snap.lastRefresh;
  if (last) {
    const f64 = (m: FlatMatrix): Float64Array => (m.data instanceof Float64Array ? m.data : Float64Array.from(m.data));
    files.push({
      path: join(outputDir, REPORT_MATRICES.gain),
      data: encodeNpy(f64(last.gain), [last.gain.K, last.gain.K]),
    });
    files.push({
      path: join(outputDir, REPORT_MATRICES.distribution),
      data: encodeNpy(f64(last.distribution), [last.distribution.K, last.distribution.K]),
    });
    matrices.gain = REPORT_MATRICES.gain;
    matrices.distribution = REPORT_MATRICES.distribution;
  }
  const withMult = snap.history.filter((h) => h.multipliers !== null);
  if (withMult.length > 0 && withMult.length === snap.history.length) {
    const L = withMult[0]!.multipliers!.length;
    if (withMult.every((h) => h.multipliers!.length === L)) {
      const flat = new Float64Array(withMult.length * L);
      withMult.forEach((h, i) => flat.set(h.multipliers!, i * L));
      files.push({ path: join(outputDir, REPORT_MATRICES.multipliers), data: encodeNpy(flat, [withMult.length, L]) });
      matrices.multipliers = REPORT_MATRICES.multipliers;
    }
  }
  const small: RunSnapshot = {
    ...snap,
    lastRefresh: stripRefresh(snap.lastRefresh),
    history: matrices.multipliers ? snap.history.map((h) => ({ ...h, multipliers: null })) : snap.history,
  };
  const json = { ...report, snapshot: small, matrices };
  files.push({ path: join(outputDir, 'report.json'), data: JSON.stringify(json, null, 1) });
  // The report this one replaces is kept in the folder's history (<output>/.selmix-history): no run is lost.
  const kept = archivePreviousRun(outputDir);
  try {
    writeFilesAtomic(files);
  } catch (e) {
    dropArchive(kept);
    throw e;
  }
}

/**
 * What the views need from a parsed report.json: its snapshot, completed with the summary when the snapshot lacks it.
 */
export function snapshotFromReport(json: unknown): RunSnapshot | null {
  if (typeof json !== 'object' || json === null) return null;
  const r = json as { snapshot?: unknown; summary?: unknown };
  const s = r.snapshot as Partial<RunSnapshot> | undefined;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.status !== 'string' ||
    !Array.isArray(s.history) ||
    !Array.isArray(s.losses)
  )
    return null;
  const summary = typeof r.summary === 'object' && r.summary !== null ? (r.summary as RunFinishedPayload) : null;
  return {
    status: s.status,
    started: s.started ?? null,
    lastStep: s.lastStep ?? null,
    lastRefresh: s.lastRefresh ?? null,
    history: s.history,
    losses: s.losses,
    finished: s.finished ?? summary,
    error: s.error ?? null,
    bestObjective: s.bestObjective ?? null,
    ...(Array.isArray(s.logs) ? { logs: s.logs } : {}),
  };
}

function readMatrix(dir: string, file: string, K: number): number[] | null {
  try {
    const a = readNpy(join(dir, file));
    if (a.shape.length !== 2 || a.shape[0] !== K || a.shape[1] !== K) return null;
    // A plain loop into a filled array: Array.from walks a typed array through its iterator, 2 to 3 times slower
    // (0.2 to 0.4 s a matrix at K = 1000).
    const d = a.data as ArrayLike<number>;
    const out = new Array<number>(d.length).fill(0);
    for (let t = 0; t < d.length; t++) out[t] = d[t]!;
    return out;
  } catch {
    return null;
  }
}

/** Reads report.json and its matrices back into a snapshot; null when it is missing or not a SelMix report. */
export function readReportSnapshot(path: string): RunSnapshot | null {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  const snap = snapshotFromReport(json);
  if (!snap) return null;
  const dir = dirname(path);
  const last = snap.lastRefresh;
  if (last) {
    const restore = (m: FlatMatrix): FlatMatrix => {
      if (!m.file || m.data.length > 0) return m;
      const data = readMatrix(dir, m.file, m.K);
      // A missing matrix file shows as an empty heatmap rather than hiding the whole run.
      return { K: m.K, data: data ?? [] };
    };
    snap.lastRefresh = { ...last, gain: restore(last.gain), distribution: restore(last.distribution) };
  }
  const mfile = (json as { matrices?: { multipliers?: unknown } }).matrices?.multipliers;
  if (typeof mfile === 'string') {
    try {
      const a = readNpy(join(dir, mfile));
      const [R, L] = [a.shape[0] ?? 0, a.shape[1] ?? 0];
      if (a.shape.length === 2 && R === snap.history.length) {
        const d = a.data as ArrayLike<number>;
        snap.history = snap.history.map((h, i) => ({
          ...h,
          multipliers: Array.from({ length: L }, (_, k) => d[i * L + k]!),
        }));
      }
    } catch {
      /* the curves still show; only the multipliers chart stays empty */
    }
  }
  return snap;
}

/** A report as the run history lists it, or null when it is not a SelMix report (writtenAt: the caller's file time). */
export function reportListing(reportPath: string, json: unknown, writtenAt: string): RunListing | null {
  const snap = snapshotFromReport(json);
  if (!snap) return null;
  const f = snap.finished;
  const name = snap.started?.name ?? (json as { name?: unknown }).name;
  return {
    reportPath,
    writtenAt,
    name: typeof name === 'string' && name ? name : basename(dirname(reportPath)),
    objective: f?.objective ?? snap.started?.objective ?? '',
    steps: f?.steps ?? snap.lastStep?.step ?? 0,
    stoppedBy: f?.stoppedBy ?? null,
    before: f?.before.objectiveValue ?? null,
    after: f?.after.objectiveValue ?? null,
    testAfter: f?.after.test ? objectiveOn(f.after.test, f.objective) : null,
    ...reportSettings(json, snap),
    ...(/[\\/]\.selmix-history[\\/]/.test(reportPath) ? { archived: true } : {}),
  };
}

/** What a run trained, from its config: the head only (linear or ONNX head, a frozen backbone) or the whole network. */
export function trainsOf(model: unknown): 'head' | 'network' | null {
  if (typeof model !== 'object' || model === null) return null;
  const m = model as { kind?: unknown; freezeBackbone?: unknown };
  if (m.kind === 'linear') return 'head';
  if (typeof m.freezeBackbone === 'boolean') return m.freezeBackbone ? 'head' : 'network';
  if (m.kind === 'onnx') return 'head';
  return m.kind === 'tfjs' || m.kind === 'pretrained-demo' ? 'network' : null;
}

/** A report's temperature, learning rate and what it trained: from its run/started, else from the config it keeps. */
export function reportSettings(json: unknown, snap: RunSnapshot): Pick<RunListing, 'temperature' | 'lr' | 'trains'> {
  const cfg = (typeof json === 'object' && json !== null ? (json as { config?: unknown }).config : null) as
    { selmix?: { temperature?: unknown }; training?: { lr?: unknown }; model?: unknown } | null | undefined;
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const st = snap.started;
  return {
    temperature: num(st?.temperature) ?? num(cfg?.selmix?.temperature),
    lr: num(st?.lr) ?? num(cfg?.training?.lr),
    trains: st?.trains ?? trainsOf(cfg?.model),
  };
}

/** The value of a built-in objective that is a plain field of a metrics report (null for the others). */
function objectiveOn(m: MetricsReport, objective: string): number | null {
  const v = (m as unknown as Record<string, unknown>)[objective];
  return typeof v === 'number' ? v : null;
}

/**
 * A report's objective and validation metrics at every refresh, for the run comparison chart (NaN where an older report
 * lacks a metric).
 */
export function reportCurve(reportPath: string, json: unknown): RunCurve | null {
  const snap = snapshotFromReport(json);
  if (!snap) return null;
  const h = snap.history;
  const col = (m: CompareMetric): number[] =>
    h.map((x) => {
      const v = (x as unknown as Record<string, unknown>)[m];
      return typeof v === 'number' ? v : Number.NaN;
    });
  return {
    reportPath,
    name: snap.started?.name ?? basename(dirname(reportPath)),
    objective: snap.finished?.objective ?? snap.started?.objective ?? '',
    ...reportSettings(json, snap),
    steps: h.map((x) => x.step),
    series: Object.fromEntries(COMPARE_METRICS.map((m) => [m, col(m)])) as Record<CompareMetric, number[]>,
  };
}
