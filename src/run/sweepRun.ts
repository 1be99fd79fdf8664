// The temperature sweep's runs, one request per inverse temperature s (the CLI's `selmix sweep`; the extension
// runs the same requests through its worker). Kept apart from sweep.ts, which the extension host imports
// without loading tfjs.
import { ConfigError } from '../core/errors';
import type { FailureKind, RunEvent, RunRequest } from '../protocol/messages';
import { prepareRun } from '../request/prepare';
import { runRequest } from './run';
import {
  sweepObjectiveName,
  sweepOutputDir,
  sweepRequest,
  sweepRow,
  writeSweepOutputs,
  type SweepRow,
} from '../report/sweep';
import type { BackendChoice } from '../backend/backend';

/** Runs the request once per s and writes sweep.md, sweep.json and sweep.svg into its output folder. */
export async function runSweep(
  base: RunRequest,
  values: number[],
  o: { emit: (e: RunEvent) => void; onValue?: (s: number) => void; backend?: BackendChoice },
): Promise<
  { ok: true; rows: SweepRow[]; markdown: string; mdPath: string } | { ok: false; kind: FailureKind; message: string }
> {
  const prepared = prepareRun(base);
  const cfg = prepared.config;
  const errors = prepared.issues.filter((i) => i.severity === 'error');
  if (!cfg || errors.length) {
    const e = new ConfigError(
      base.configPath,
      errors.map(({ path, message, line, column }) => ({ path, message, line, column })),
    );
    o.emit({ type: 'run/failed', payload: { message: e.message, kind: 'config' } });
    return { ok: false, kind: 'config', message: e.message };
  }
  const root = prepared.outputDir!;
  const rows: SweepRow[] = [];
  for (const s of values) {
    o.onValue?.(s);
    const r = await runRequest(sweepRequest(base, root, s), {
      emit: o.emit,
      shouldStop: () => false,
      ...(o.backend ? { backend: o.backend } : {}),
    });
    if (!r.ok) return r;
    rows.push(sweepRow(cfg, s, r.summary, sweepOutputDir(root, s)));
  }
  return { ok: true, rows, ...writeSweepOutputs(root, sweepObjectiveName(cfg), rows) };
}
