// The one sentence every surface shows for a live run (the dashboard's stage line, the sidebar, the status bar and
// the progress notification): its stage, progress and time left, from the snapshot. Pure; imports protocol types only.
import type { RefreshingPayload, RunSnapshot, RunStageId } from './messages';

/** Where a live run stands, in words, with its progress (0 to 1, null: unknown) and seconds left (null: unknown). */
export interface StageLine {
  stage: RunStageId;
  text: string;
  fraction: number | null;
  etaSeconds: number | null;
}

/** A duration in words: "< 1 s", "42 s", "3 min 5 s", "2 h 7 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 1) return '< 1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** What a refresh under way is doing, in words: "refreshing: validation 2048/8000", "writing a checkpoint". */
export function refreshingText(r: RefreshingPayload): string {
  switch (r.phase) {
    case 'validation':
      return `refreshing: validation${r.total > 0 ? ` ${r.done}/${r.total}` : ''}`;
    case 'gains':
      return 'refreshing: the gain matrix';
    case 'distribution':
      return 'refreshing: the sampling distribution';
    case 'checkpoint':
      return 'writing a checkpoint';
  }
}

/** The stage line of a running or stopping run; null when no run is live. */
export function stageLine(s: RunSnapshot): StageLine | null {
  if (s.status !== 'running' && s.status !== 'stopping') return null;
  let line: StageLine;
  if (s.stage) {
    const { done, total } = s.stage;
    line = {
      stage: s.stage.stage,
      text: s.stage.label + (total > 0 ? ` ${done}/${total}` : '…'),
      fraction: total > 0 ? Math.min(1, done / total) : null,
      etaSeconds: s.stage.etaSeconds,
    };
  } else if (s.started) {
    const st = s.started;
    const step = s.lastStep;
    const total = step?.totalSteps ?? st.totalSteps;
    const done = step?.step ?? 0;
    const what =
      st.mode === 'pretrain'
        ? 'pre-training'
        : `fine-tuning${st.trains === 'network' ? ' the whole network' : st.trains === 'head' ? ' the head' : ''}`;
    line = {
      stage: st.mode === 'pretrain' ? 'pretraining' : 'finetuning',
      text: `${what}: step ${done}/${total}`,
      fraction: total > 0 ? Math.min(1, done / total) : null,
      etaSeconds: step && step.msPerStep > 0 ? (step.msPerStep * Math.max(0, total - done)) / 1000 : null,
    };
  } else {
    line = { stage: 'starting', text: 'starting…', fraction: null, etaSeconds: null };
  }
  const pct = line.fraction !== null && line.stage !== 'checking' ? ` (${Math.floor(100 * line.fraction)} %)` : '';
  const eta =
    line.etaSeconds !== null && s.status === 'running' ? `, about ${formatDuration(line.etaSeconds)} left` : '';
  // A refresh under way (the training loop's only pause): said after the step, which it holds.
  const refreshing = line.stage === 'finetuning' && s.refreshing ? ` · ${refreshingText(s.refreshing)}` : '';
  return { ...line, text: `${s.status === 'stopping' ? 'stopping: ' : ''}${line.text}${pct}${eta}${refreshing}` };
}

/**
 * A saved snapshot of a run that was live when its window reloaded (which ended the run): shown as failed, saying so.
 */
export function endedWithWindow(s: RunSnapshot): RunSnapshot {
  return {
    ...s,
    status: 'failed',
    stage: null,
    error:
      'the run ended when the window reloaded (the extension host restarted); its last checkpoint is in its output folder',
  };
}

/** The status of a snapshot in words, and a stable key for tests and styles. */
export function statusOf(s: RunSnapshot): { key: string; label: string } {
  switch (s.status) {
    case 'idle':
      return { key: 'idle', label: 'No run yet' };
    case 'running':
      if (!s.started) return { key: 'starting', label: 'Starting…' }; // loading, decoding, extracting: the stage line says which
      return s.started.mode === 'pretrain'
        ? { key: 'pretraining', label: 'Pre-training…' }
        : { key: 'running', label: 'Running' };
    case 'stopping':
      return { key: 'stopping', label: 'Stopping…' };
    case 'failed':
      return { key: 'failed', label: 'Failed' };
    case 'finished': {
      const by = s.finished?.stoppedBy;
      if (by === 'cancel' && s.finished?.reportPath === null)
        return { key: 'stopped', label: 'Stopped (pre-training)' };
      if (by === 'cancel') return { key: 'stopped', label: 'Stopped' };
      if (by === 'earlyStop') return { key: 'finished', label: 'Finished (early stop)' };
      return { key: 'finished', label: 'Finished' };
    }
  }
}
