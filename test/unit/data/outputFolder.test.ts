// The output folder's checks (src/data/outputFolder.ts): before anything is written, the folder must be creatable on
// a real, writable file system outside every input folder; a lock names the run that holds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputFolderError } from '../../../src/core/errors';
import { checkOutputFolder, createOutputFolder, LOCK_FILE, lockOutputFolder } from '../../../src/data/outputFolder';

const fails = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof OutputFolderError && re.test(e.message));

test('a folder on /proc, under a file, or inside an input folder is refused without creating anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-outdir-'));
  fails(() => checkOutputFolder('/proc/selmix-test-out/run', []), /proc file system/);
  writeFileSync(join(dir, 'file'), 'x');
  fails(() => checkOutputFolder(join(dir, 'file', 'out'), []), /is a file, not a folder/);
  mkdirSync(join(dir, 'images', 'train'), { recursive: true });
  fails(() => checkOutputFolder(join(dir, 'images', 'train'), [join(dir, 'images', 'train')]), /is the input folder/);
  fails(() => checkOutputFolder(join(dir, 'images', 'train', 'out'), [join(dir, 'images', 'train')]), /inside the input folder/);
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
test('a read-only file system is reported as read-only (not as a missing file)', { skip: ro === null ? 'mounting a read-only tmpfs is not permitted here' : false }, () => {
  try {
    fails(() => checkOutputFolder(join(ro!, 'out'), []), /read-only file system/);
  } finally {
    execFileSync('umount', [ro!]);
  }
});

test('the lock: a live run of another process is named; a lock of a gone process is taken over; release removes only our lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-lock-'));
  createOutputFolder(dir);
  const lock = join(dir, LOCK_FILE);
  // The parent of this process is alive and is another process.
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, thread: 0, host: hostname(), startedAt: 't', what: 'fine-tuning "other"' }));
  fails(() => lockOutputFolder(dir, 'mine'), new RegExp(`another run is writing to the output folder .*fine-tuning "other" \\(process ${process.ppid}, started t\\)`));
  writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 4321, thread: 0, host: hostname(), startedAt: 't', what: 'gone' }));
  const release = lockOutputFolder(dir, 'mine');
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).what, 'mine');
  release();
  assert.ok(!existsSync(lock));
});
