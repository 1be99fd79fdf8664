// The worker entry (dist/worker.js): receives one run request from the extension host, runs it through
// src/run, posts protocol events, and stops gracefully on request. Everything it throws becomes run/failed.
import { parentPort } from 'node:worker_threads';
import { runRequest } from '../run/run';
import { BACKEND_CHOICES, type BackendChoice } from '../backend/backend';
import type { FlatMatrix, RunEvent, WorkerRequest } from '../protocol/messages';
import { StopFlag } from '../protocol/stopFlag';
import { compactRefresh, MAX_VIEW_SIDE } from '../protocol/downsample';

const port = parentPort;
if (!port) throw new Error('worker.js must run in a worker thread');
let stopMessage = false;
let stopFlag: StopFlag | null = null;
let stopSeen = false;
let started = false;
// A refresh goes to the host as the views draw it (G and P in tiles above MAX_VIEW_SIDE classes,
// src/protocol/downsample.ts): the host never needs the full K x K matrices (the worker writes them to gain.npy and
// distribution.npy), and at K = 1000 they were 16 MB to copy across threads and to downsample on the host's thread at
// every refresh. The tiles go as typed arrays (one copy across threads, not one JS number at a time).
const typed = (m: FlatMatrix): FlatMatrix => ({ ...m, data: Float64Array.from(m.data) });
function forHost(e: RunEvent): RunEvent {
  if (e.type !== 'run/refresh' || e.payload.gain.K <= MAX_VIEW_SIDE) return e;
  const c = compactRefresh(e.payload);
  return { ...e, payload: { ...c, gain: typed(c.gain), distribution: typed(c.distribution) } };
}
const post = (e: RunEvent) => port.postMessage(forHost(e));

/** The loop's stop check: the shared flag (seen at once, whatever the event loop does) or the worker/stop message. */
function shouldStop(): boolean {
  const stop = stopMessage || (stopFlag?.requested ?? false);
  if (stop && !stopSeen) {
    stopSeen = true;
    post({
      type: 'run/log',
      payload: {
        level: 'info',
        message: `stop request seen by the worker (${stopFlag?.requested ? 'shared flag' : 'worker/stop message'})`,
      },
    });
  }
  return stop;
}

port.on('message', (msg: WorkerRequest) => {
  switch (msg.type) {
    case 'worker/stop':
      stopMessage = true;
      return;
    case 'worker/start': {
      if (started) {
        post({
          type: 'run/log',
          payload: { level: 'warn', message: 'this worker already runs a job; request ignored' },
        });
        return;
      }
      started = true;
      if (msg.stopFlag) stopFlag = new StopFlag(msg.stopFlag);
      const backend = (BACKEND_CHOICES as readonly string[]).includes(msg.backend ?? '')
        ? (msg.backend as BackendChoice)
        : undefined;
      void runRequest(msg.request, {
        emit: post,
        shouldStop,
        ...(backend ? { backend } : {}),
        ...(msg.wasmDir ? { wasmDir: msg.wasmDir } : {}),
      }).catch((e: Error) =>
        post({
          type: 'run/failed',
          payload: { message: e.message, kind: 'internal', ...(e.stack ? { stack: e.stack } : {}) },
        }),
      );
    }
  }
});
