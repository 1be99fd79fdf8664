// The output folder of a run: checked before anything is written (on a real, writable file system, not inside
// an input folder), created only after every other check has passed, and locked while a run writes there, so
// two runs into one folder do not overwrite each other's files.
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { OutputFolderError, TrainingError } from '../core/errors';
import { writeFileAtomic } from './atomicWrite';

/** File systems that are views of the kernel, not storage: writing there can block or mean something else. */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x73636673: 'securityfs',
  0x6e736673: 'nsfs',
  0xcafe4a11: 'bpf',
  0x42494e4d: 'binfmt_misc',
  0x50495045: 'pipefs',
  0x534f434b: 'sockfs',
};

/** The nearest existing ancestor of path (path itself when it exists). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

function canonical(p: string): string {
  const a = existingAncestor(p);
  try {
    return join(realpathSync(a), relative(a, resolve(p)));
  } catch {
    return resolve(p);
  }
}

/** True when child is root or inside it (both canonical). */
function within(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Checks, without creating anything, that dir can be a run's output folder: its nearest existing ancestor is a
 * folder on a writable, real file system, and dir is not one of the input folders among `inputs` or inside one
 * (outputs there would become inputs: a model/ sub-folder in an image folder is a new class).
 */
export function checkOutputFolder(dir: string, inputs: string[]): void {
  const a = existingAncestor(dir);
  let isDir = false;
  try {
    isDir = statSync(a).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir)
    throw new OutputFolderError(`cannot create the output folder ${resolve(dir)}: ${a} is a file, not a folder`);
  try {
    const fs = PSEUDO_FS[statfsSync(a).type];
    if (fs)
      throw new OutputFolderError(
        `the output folder ${resolve(dir)} is on the ${fs} file system (a view of the kernel, not storage); choose a folder on a disk`,
      );
  } catch (e) {
    if (e instanceof OutputFolderError) throw e;
  }
  try {
    accessSync(a, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputFolderError(
      code === 'EROFS'
        ? `cannot write the output folder ${resolve(dir)}: ${a} is on a read-only file system`
        : `cannot write the output folder ${resolve(dir)}: no permission to write in ${a} (${code ?? (e as Error).message})`,
    );
  }
  const out = canonical(dir);
  for (const f of inputs.filter((p) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  })) {
    const inp = canonical(f);
    if (within(inp, out))
      throw new OutputFolderError(
        `the output folder ${resolve(dir)} is ${out === inp ? 'the' : 'inside the'} input folder ${f}; its outputs would become inputs: choose another output folder`,
      );
  }
}

/**
 * The file every run writes into its output folder: it marks the folder as SelMix's, so a later run may replace its
 * files.
 */
export const RUN_MARKER = '.selmix-run.json';

/**
 * True when a SelMix run wrote dir: its run marker, or (runs before the marker existed) a report.json with a run's
 * summary and snapshot.
 */
export function isRunFolder(dir: string): boolean {
  const json = (name: string): unknown => {
    try {
      const p = join(dir, name);
      if (!statSync(p).isFile() || statSync(p).size > 256 * 2 ** 20) return null;
      return JSON.parse(readFileSync(p, 'utf8'));
    } catch {
      return null;
    }
  };
  const marker = json(RUN_MARKER) as { tool?: unknown } | null;
  if (marker && marker.tool === 'selmix') return true;
  const report = json('report.json') as {
    summary?: { runId?: unknown; reportPath?: unknown };
    snapshot?: unknown;
  } | null;
  return (
    !!report &&
    typeof report.summary?.runId === 'string' &&
    'reportPath' in report.summary &&
    typeof report.snapshot === 'object' &&
    report.snapshot !== null
  );
}

/**
 * Refuses an output folder that holds any of `names` (files or folders the run would replace, relative to dir) when no
 * SelMix run wrote the folder (isRunFolder): those are the user's own files. Names the first one found.
 */
export function checkReplaceable(dir: string, names: string[]): void {
  if (!existsSync(dir) || isRunFolder(dir)) return;
  for (const name of names) {
    const p = join(dir, name);
    let found = false;
    try {
      lstatSync(p);
      found = true;
    } catch {
      /* absent */
    }
    if (found) {
      throw new OutputFolderError(
        `the output folder ${resolve(dir)} holds ${p}, which this run would replace, and no SelMix run wrote that folder (it has no ${RUN_MARKER}); ` +
          'choose a new or empty output folder, or move your files out of it',
      );
    }
  }
}

/** Writes the run marker into a freshly made or reused output folder (kept when one is there already). */
export function markRunFolder(dir: string, what: string): void {
  const path = join(dir, RUN_MARKER);
  if (isRunFolder(dir) && existsSync(path)) return;
  try {
    writeFileAtomic(
      path,
      JSON.stringify(
        {
          tool: 'selmix',
          note: 'this folder holds the outputs of SelMix runs; a later run may replace them',
          createdAt: new Date().toISOString(),
          by: what,
        },
        null,
        1,
      ) + '\n',
    );
  } catch (e) {
    throw new OutputFolderError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/**
 * Removes an output folder this run created when it holds nothing but the run's marker and lock (the run failed before
 * writing).
 */
export function removeIfUnused(dir: string): void {
  try {
    const left = readdirSync(dir);
    if (!left.every((f) => f === RUN_MARKER || f === LOCK_FILE)) return;
    for (const f of left) rmSync(join(dir, f), { force: true });
    rmdirSync(dir);
  } catch {
    /* best effort: the failure being reported matters more */
  }
}

/** Creates the output folder (after checkOutputFolder and every other check). */
export function createOutputFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputFolderError(
      `cannot create the output folder ${resolve(dir)} (${code === 'EROFS' ? 'read-only file system' : (code ?? (e as Error).message)})`,
    );
  }
}

/** The name of the lock file a run holds in its output folder. */
export const LOCK_FILE = '.selmix.lock';

interface LockInfo {
  pid: number;
  /** The worker_threads thread id: the extension host runs each run in a worker of its own process. */
  thread: number;
  host: string;
  startedAt: string;
  what: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the output folder's lock for this process; returns its release. Another live run on this machine holding
 * it is an OutputFolderError naming that run; a lock left by a run that is gone (killed) is taken over.
 */
export function lockOutputFolder(dir: string, what: string): () => void {
  const path = join(dir, LOCK_FILE);
  const mine: LockInfo = {
    pid: process.pid,
    thread: threadId,
    host: hostname(),
    startedAt: new Date().toISOString(),
    what,
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new OutputFolderError(
          `cannot lock the output folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      let other: Partial<LockInfo> = {};
      try {
        other = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
      } catch {
        /* unreadable: treated as stale below */
      }
      const sameHost = other.host === mine.host;
      // A lock of this very thread is left from an earlier run of it (runs of one thread follow each other).
      const ownThread = other.pid === process.pid && other.thread === threadId;
      if (typeof other.pid === 'number' && (!sameHost || (!ownThread && alive(other.pid)))) {
        throw new OutputFolderError(
          `another run is writing to the output folder ${dir}: ${other.what ?? 'a SelMix run'} (process ${other.pid}${sameHost ? '' : ` on ${other.host}`}, started ${other.startedAt ?? 'at an unknown time'}); ` +
            `wait for it, stop it, or choose another output folder (if no such run exists, delete ${path})`,
        );
      }
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(mine));
    } catch (e) {
      closeSync(fd);
      rmSync(path, { force: true });
      throw new TrainingError(
        `${path}: could not write the output folder's lock: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}${(e as NodeJS.ErrnoException).code === 'ENOSPC' ? ' (the disk is full)' : ''}`,
        { cause: e },
      );
    }
    closeSync(fd);
    return () => {
      try {
        const now = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
        if (now.pid === mine.pid && now.startedAt === mine.startedAt) rmSync(path, { force: true });
      } catch {
        /* already gone */
      }
    };
  }
  throw new OutputFolderError(`cannot lock the output folder ${dir}: ${path} keeps reappearing`);
}

/**
 * Removes the lock a run in thread `thread` of this process left behind (its worker was terminated before it could).
 */
export function releaseThreadLock(dir: string, thread: number): void {
  const path = join(dir, LOCK_FILE);
  try {
    const l = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (l.pid === process.pid && l.thread === thread) rmSync(path, { force: true });
  } catch {
    /* no lock, or not ours */
  }
}
