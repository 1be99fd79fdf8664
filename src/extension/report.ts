// Reading a finished run back from its report.json, so the dashboard can show a past run.
import { readFile } from 'node:fs/promises';
import type { RunFinishedPayload, RunSnapshot } from '../protocol/messages';

/** What the views need from a report.json: its snapshot, completed with the summary when the snapshot lacks it. */
export function snapshotFromReport(json: unknown): RunSnapshot | null {
  if (typeof json !== 'object' || json === null) return null;
  const r = json as { snapshot?: unknown; summary?: unknown };
  const s = r.snapshot as Partial<RunSnapshot> | undefined;
  if (typeof s !== 'object' || s === null || typeof s.status !== 'string' || !Array.isArray(s.history) || !Array.isArray(s.losses)) return null;
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

/** Reads report.json and returns its snapshot, or null when it is missing or not a SelMix report. */
export async function readReportSnapshot(path: string): Promise<RunSnapshot | null> {
  try {
    return snapshotFromReport(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return null;
  }
}
