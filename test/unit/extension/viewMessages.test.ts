import assert from 'node:assert/strict';
import { test } from 'node:test';
import { receiveViewMessage } from '../../../src/extension/viewMessages';
import type { WebviewToHost } from '../../../src/protocol/messages';

test('valid messages are handled', () => {
  const got: WebviewToHost[] = [];
  const logs: string[] = [];
  assert.equal(
    receiveViewMessage(
      { type: 'view/ready' },
      'dashboard',
      (m) => got.push(m),
      (l) => logs.push(l),
    ),
    true,
  );
  assert.equal(
    receiveViewMessage(
      { type: 'view/command', command: 'stop' },
      'sidebar',
      (m) => got.push(m),
      (l) => logs.push(l),
    ),
    true,
  );
  assert.equal(
    receiveViewMessage(
      { type: 'view/ack' },
      'sidebar',
      (m) => got.push(m),
      (l) => logs.push(l),
    ),
    true,
  );
  assert.deepEqual(got, [{ type: 'view/ready' }, { type: 'view/command', command: 'stop' }, { type: 'view/ack' }]);
  assert.deepEqual(logs, []);
});

test('unknown or malformed messages are dropped and logged, never handled', () => {
  const bad: unknown[] = [
    null,
    undefined,
    42,
    'view/ready',
    [],
    {},
    { type: 'view/ready', extra: 1 },
    { type: 'view/ack', n: 2 },
    { type: 'view/command' },
    { type: 'view/command', command: 'rm -rf /' },
    { type: 'view/command', command: 'stop', path: '/etc/passwd' },
    { type: 'host/snapshot', snapshot: {} },
    { type: 'worker/start', config: {} },
    { type: 'view/command', command: { toString: 1 } },
    { type: 'x'.repeat(10_000) },
  ];
  const logs: string[] = [];
  for (const b of bad) {
    assert.equal(
      receiveViewMessage(
        b,
        'dashboard',
        () => assert.fail(`handled ${JSON.stringify(b)}`),
        (l) => logs.push(l),
      ),
      false,
    );
  }
  assert.equal(logs.length, bad.length);
  for (const l of logs) {
    assert.match(l, /^\[dashboard\] dropped an unknown or malformed message/);
    assert.ok(l.length < 300 && !l.includes('\n'));
  }
  const cyclic: Record<string, unknown> = { type: 'view/ready' };
  cyclic.self = cyclic;
  assert.equal(
    receiveViewMessage(
      cyclic,
      'sidebar',
      () => assert.fail('handled'),
      (l) => logs.push(l),
    ),
    false,
  );
});
