// The engine makes no network requests: every networking entry point is stubbed to record the call
// and throw, before the engine is even loaded; then a whole training job runs, backend probing included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { smallJob } from '../helpers/reliability';

const calls: string[] = [];
function trap(obj: object, key: string, name: string): void {
  Object.defineProperty(obj, key, {
    configurable: true,
    writable: true,
    value: (...args: unknown[]) => {
      calls.push(`${name}(${args.map((a) => (typeof a === 'string' ? a : typeof a)).join(', ')})`);
      throw new Error(`network access attempted: ${name}`);
    },
  });
}
trap(net.Socket.prototype, 'connect', 'net.Socket.connect');
trap(net, 'connect', 'net.connect');
trap(net, 'createConnection', 'net.createConnection');
trap(tls, 'connect', 'tls.connect');
trap(http, 'request', 'http.request');
trap(http, 'get', 'http.get');
trap(https, 'request', 'https.request');
trap(https, 'get', 'https.get');
trap(http2, 'connect', 'http2.connect');
trap(dgram, 'createSocket', 'dgram.createSocket');
trap(dns, 'lookup', 'dns.lookup');
trap(dns, 'resolve', 'dns.resolve');
trap(dns.promises, 'lookup', 'dns.promises.lookup');
trap(globalThis, 'fetch', 'fetch');

test(
  'a training job (backend probing, data, model, outputs) runs with all networking stubbed to throw, and calls none of it',
  { timeout: 60_000 },
  async () => {
    // Loaded only now, so no module can have kept a reference to an unstubbed function.
    const { runConfig } = await import('../helpers/run');
    const j = smallJob({ steps: 100 });
    const failures: string[] = [];
    const r = await runConfig(readFileSync(j.configPath, 'utf8'), j.configPath, {
      backend: 'auto',
      shouldStop: () => false,
      emit: (e) => {
        if (e.type === 'run/failed') failures.push(e.payload.message);
      },
    });
    assert.ok(r.ok, r.ok ? '' : `${r.message} ${failures.join('; ')}`);
    assert.deepEqual(calls, [], `network calls: ${calls.join(', ')}`);
    // The stubs work: a call would have been caught and counted.
    assert.throws(() => (globalThis.fetch as unknown as () => void)(), /network access attempted: fetch/);
    assert.throws(() => http.get('http://example.invalid/'), /network access attempted/);
    assert.equal(calls.length, 2);
  },
);
