// The output folder's checks (src/data/outputFolder.ts): before anything is written, the folder must be creatable on
// a real, writable file system outside every input folder; a lock names the run that holds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputFolderError } from '../../../src/core/errors';
import {
  checkOutputFolder,
  checkReplaceable,
  createOutputFolder,
  isRunFolder,
  LOCK_FILE,
  lockOutputFolder,
  markRunFolder,
  removeIfUnused,
  RUN_MARKER,
} from '../../../src/data/outputFolder';

const fails = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof OutputFolderError && re.test(e.message));

test('a folder on /proc, under a file, or inside an input folder is refused without creating anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-outdir-'));
  fails(() => checkOutputFolder('/proc/selmix-test-out/run', []), /proc file system/);
  writeFileSync(join(dir, 'file'), 'x');
  fails(() => checkOutputFolder(join(dir, 'file', 'out'), []), /is a file, not a folder/);
  mkdirSync(join(dir, 'images', 'train'), { recursive: true });
  fails(() => checkOutputFolder(join(dir, 'images', 'train'), [join(dir, 'images', 'train')]), /is the input folder/);
  fails(
    () => checkOutputFolder(join(dir, 'images', 'train', 'out'), [join(dir, 'images', 'train')]),
    /inside the input folder/,
  );
  // An input file's folder is not an input folder: outputs beside a file are fine.
  writeFileSync(join(dir, 'x.npy'), 'x');
  assert.doesNotThrow(() => checkOutputFolder(join(dir, 'out'), [join(dir, 'x.npy')]));
  assert.ok(!existsSync(join(dir, 'out')) && !existsSync('/proc/selmix-test-out'));
});

/** A read-only tmpfs, when this machine lets the test mount one (root in a container usually may). */
function readOnlyMount(): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-ro-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return null;
  }
}

const ro = readOnlyMount();
test(
  'a read-only file system is reported as read-only (not as a missing file)',
  { skip: ro === null ? 'mounting a read-only tmpfs is not permitted here' : false },
  () => {
    try {
      fails(() => checkOutputFolder(join(ro!, 'out'), []), /read-only file system/);
    } finally {
      execFileSync('umount', [ro!]);
    }
  },
);

test('the lock: a live run of another process is named; a lock of a gone process is taken over; release removes only our lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-lock-'));
  createOutputFolder(dir);
  const lock = join(dir, LOCK_FILE);
  // The parent of this process is alive and is another process.
  writeFileSync(
    lock,
    JSON.stringify({ pid: process.ppid, thread: 0, host: hostname(), startedAt: 't', what: 'fine-tuning "other"' }),
  );
  fails(
    () => lockOutputFolder(dir, 'mine'),
    new RegExp(
      `another run is writing to the output folder .*fine-tuning "other" \\(process ${process.ppid}, started t\\)`,
    ),
  );
  writeFileSync(
    lock,
    JSON.stringify({ pid: 2 ** 22 + 4321, thread: 0, host: hostname(), startedAt: 't', what: 'gone' }),
  );
  const release = lockOutputFolder(dir, 'mine');
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).what, 'mine');
  release();
  assert.ok(!existsSync(lock));
});

test("the user's files: a folder holding a file the run would replace is refused unless a SelMix run wrote it (marker, or an earlier run's report.json)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-own-'));
  checkReplaceable(join(dir, 'new'), ['W.npy']);
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  checkReplaceable(dir, ['W.npy', 'model']);
  writeFileSync(join(dir, 'W.npy'), 'mine');
  assert.throws(
    () => checkReplaceable(dir, ['report.json', 'W.npy']),
    (e: unknown) =>
      e instanceof OutputFolderError && e.message.includes(`holds ${join(dir, 'W.npy')}, which this run would replace`),
  );
  writeFileSync(join(dir, 'report.json'), '{"summary": {"runId": 3}}');
  assert.equal(isRunFolder(dir), false, "a report.json that is not a run's");
  writeFileSync(
    join(dir, 'report.json'),
    JSON.stringify({ summary: { runId: 'r', reportPath: join(dir, 'report.json') }, snapshot: {} }),
  );
  assert.equal(isRunFolder(dir), true, 'a report.json of a run written before the marker');
  checkReplaceable(dir, ['report.json', 'W.npy']);

  const marked = mkdtempSync(join(tmpdir(), 'selmix-own-'));
  writeFileSync(join(marked, 'W.npy'), 'from a run');
  markRunFolder(marked, 'test');
  assert.equal(JSON.parse(readFileSync(join(marked, RUN_MARKER), 'utf8')).tool, 'selmix');
  checkReplaceable(marked, ['W.npy']);

  // A folder this run made and left with only its marker and lock is removed; one with anything else is kept.
  const made = join(mkdtempSync(join(tmpdir(), 'selmix-own-')), 'out');
  createOutputFolder(made);
  markRunFolder(made, 'test');
  writeFileSync(join(made, LOCK_FILE), '{}');
  removeIfUnused(made);
  assert.equal(existsSync(made), false);
  removeIfUnused(marked);
  assert.equal(existsSync(join(marked, 'W.npy')), true);
});
