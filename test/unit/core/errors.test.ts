// Failure kinds and exit codes of the named errors, and machine failures (a full disk) naming their path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError, exitCodeOf, failureKindOf, ioFailureOf, TrainingError } from '../../../src/core/errors';

test('a full disk, a quota or an I/O error becomes a TrainingError naming the path (exit 1); other errors are left alone', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    syscall: 'write',
    path: '/out/report.json',
  });
  const e = ioFailureOf(enospc);
  assert.ok(e instanceof TrainingError);
  assert.equal(e.message, '/out/report.json: write failed: ENOSPC (the disk is full)');
  assert.equal(exitCodeOf(failureKindOf(e)), 1);
  assert.match(
    ioFailureOf(Object.assign(new Error('x'), { code: 'EDQUOT' }))!.message,
    /^a file: could not write: EDQUOT \(the disk quota is exceeded\)/,
  );
  assert.equal(
    ioFailureOf(Object.assign(new Error('x'), { code: 'ENOENT', path: '/a' })),
    null,
    'a missing file is not a machine failure',
  );
  assert.equal(ioFailureOf(new DataError('/a', 'bad')), null);
  assert.equal(ioFailureOf('ENOSPC'), null);
});
