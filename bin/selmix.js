#!/usr/bin/env node
// The `selmix` command. Runs the bundled CLI from dist/, building it first when a fresh clone has no dist/.
'use strict';
const { existsSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const root = join(__dirname, '..');

/** What the child's glibc malloc is told (inHugePageChild). */
const CHILD_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576';

/**
 * On Linux where transparent huge pages are given on request ("madvise", the usual default), runs the command in a
 * child with glibc's malloc asking for them (GLIBC_TUNABLES glibc.malloc.hugetlb=1, read only at process start):
 * the large arrays of a run (inputs of hundreds of MB, K x K matrices) are then mapped in 2 MB pages instead of 4 KB
 * ones, which costs 0.2 to 0.5 s of page faults less at K = 1000 on a virtual machine (docs/PERFORMANCE.md). The
 * child's malloc also maps every block of 1 MiB or more on its own and unmaps it when freed
 * (glibc.malloc.mmap_threshold): by default glibc raises that threshold after the first such block is freed (up to
 * 32 MiB), and from then on the K x K arrays of each refresh and ONNX Runtime's outputs (8 MB each at K = 1000) come
 * from the heap, where freed ones stay resident: the K = 1000 finetune's peak RSS was 667 to 705 MiB with the
 * dynamic threshold and 629 to 643 MiB with this one (five runs each way; docs/PERFORMANCE.md, eleventh pass). The
 * parent only waits and passes the exit status on. Returns true when it started the child. No child with
 * SELMIX_NO_HUGEPAGES=1, under --inspect, or with THP set to always or never (another libc than glibc ignores the
 * variable: its child costs a process start, about 50 ms, for nothing).
 */
function inHugePageChild() {
  if (process.platform !== 'linux' || process.env.SELMIX_NO_HUGEPAGES === '1') return false;
  // A debugger attached to this process stays with the command.
  if (process.execArgv.some((a) => a.startsWith('--inspect'))) return false;
  const tunables = process.env.GLIBC_TUNABLES ?? '';
  if (tunables.includes('glibc.malloc.hugetlb')) return false;
  let thp = '';
  try {
    thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  } catch {
    return false;
  }
  if (!thp.includes('[madvise]')) return false;
  let child;
  try {
    child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: {
        ...process.env,
        GLIBC_TUNABLES: tunables ? `${tunables}:${CHILD_TUNABLES}` : CHILD_TUNABLES,
      },
    });
  } catch {
    return false;
  }
  // A terminal's Ctrl-C reaches the whole process group, the child included (it stops at the next step); a signal
  // sent to this process alone is passed on.
  const pass = (sig) => () => {
    if (sig === 'SIGINT' && process.stdin.isTTY) return;
    try {
      child.kill(sig);
    } catch {
      // The child has gone.
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handlers = signals.map((sig) => [sig, pass(sig)]);
  for (const [sig, h] of handlers) process.on(sig, h);
  child.on('error', (e) => {
    process.stderr.write(`selmix: could not start: ${e.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
  return true;
}
const cli = join(root, 'dist', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write('selmix: building dist/ (first run)...\n');
  const r = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/**
 * Loads the bundle as require() would, through V8's code cache: the first run leaves the compiled code of what it ran
 * beside the bundle (dist/.cli-<size>-<mtime>-<node version>.v8cache), and later runs skip parsing and compiling most
 * of the 4 MB bundle (Node 22's module.enableCompileCache does the same; Node 20 has no such switch). The name changes
 * with every build and Node version, so a cache never meets another bundle. Returns the module's exports and a
 * function that writes the cache when there was none (or V8 refused it); any failure falls back to plain require.
 */
function loadCli(file) {
  if (process.env.SELMIX_NO_CODE_CACHE === '1') return { exports: require(file), save: () => {} };
  try {
    const Module = require('node:module');
    const vm = require('node:vm');
    const st = statSync(file);
    const cacheFile = join(dirname(file), `.cli-${st.size}-${Math.floor(st.mtimeMs)}-${process.version}.v8cache`);
    let cached;
    try {
      cached = readFileSync(cacheFile);
    } catch {
      cached = undefined;
    }
    const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), {
      filename: file,
      ...(cached ? { cachedData: cached } : {}),
    });
    const mod = new Module(file, module);
    mod.filename = file;
    mod.paths = Module._nodeModulePaths(dirname(file));
    script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
    mod.loaded = true;
    const save = () => {
      if (cached && !script.cachedDataRejected) return;
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // A read-only install runs without the cache.
      }
    };
    return { exports: mod.exports, save };
  } catch {
    return { exports: require(file), save: () => {} };
  }
}

if (!inHugePageChild()) {
  const loaded = loadCli(cli);
  loaded.exports.main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    loaded.save();
  });
}
