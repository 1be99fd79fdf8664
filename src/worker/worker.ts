// The worker entry (dist/worker.js): receives one run request from the extension host, runs it through
// src/run, posts protocol events, and stops gracefully on request. Everything it throws becomes run/failed.
import { parentPort } from 'node:worker_threads';
import { runRequest } from '../run/run';
import { BACKEND_CHOICES, type BackendChoice } from '../backend/backend';
import type { RunEvent, WorkerRequest } from '../protocol/messages';

const port = parentPort;
if (!port) throw new Error('worker.js must run in a worker thread');
let stopRequested = false;
let started = false;
const post = (e: RunEvent) => port.postMessage(e);

port.on('message', (msg: WorkerRequest) => {
  switch (msg.type) {
    case 'worker/stop':
      stopRequested = true;
      return;
    case 'worker/start': {
      if (started) {
        post({ type: 'run/log', payload: { level: 'warn', message: 'this worker already runs a job; request ignored' } });
        return;
      }
      started = true;
      const backend = (BACKEND_CHOICES as readonly string[]).includes(msg.backend ?? '') ? (msg.backend as BackendChoice) : undefined;
      void runRequest(msg.request, { emit: post, shouldStop: () => stopRequested, ...(backend ? { backend } : {}), ...(msg.wasmDir ? { wasmDir: msg.wasmDir } : {}) })
        .catch((e: Error) => post({ type: 'run/failed', payload: { message: e.message, kind: 'internal', ...(e.stack ? { stack: e.stack } : {}) } }));
    }
  }
});
