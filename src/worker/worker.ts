// The worker entry (dist/worker.js): receives one run request from the extension host, runs it, posts
// protocol events, and stops gracefully on request. Everything it throws becomes run/failed.
import { parentPort } from 'node:worker_threads';
import { runJob } from './job';
import type { BackendChoice } from '../backend/backend';
import type { RunEvent, WorkerRequest } from '../protocol/messages';
import { applyOverrides, overrideProblems } from './sweep';

const port = parentPort;
if (!port) throw new Error('worker.js must run in a worker thread');
let stopRequested = false;
let started = false;
const post = (e: RunEvent) => port.postMessage(e);

port.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'worker/stop') {
    stopRequested = true;
    return;
  }
  if (msg.type !== 'worker/start') return;
  if (started) {
    post({ type: 'run/log', payload: { level: 'warn', message: 'this worker already runs a job; request ignored' } });
    return;
  }
  started = true;
  const problems = overrideProblems(msg.overrides);
  if (problems.length > 0) {
    post({ type: 'run/failed', payload: { message: `invalid start request: ${problems.join('; ')}`, kind: 'internal', details: problems } });
    return;
  }
  const text = typeof msg.config === 'string' ? msg.config : JSON.stringify(msg.config, null, 2);
  void runJob(text, msg.configPath, {
    emit: post,
    shouldStop: () => stopRequested,
    ...(msg.backend ? { backend: msg.backend as BackendChoice } : {}),
    ...(msg.wasmDir ? { wasmDir: msg.wasmDir } : {}),
    ...(msg.overrides ? { override: applyOverrides(msg.overrides) } : {}),
  }).catch((e: Error) => post({ type: 'run/failed', payload: { message: e.message, kind: 'internal', ...(e.stack ? { stack: e.stack } : {}) } }));
});
