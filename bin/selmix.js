#!/usr/bin/env node
// The `selmix` command. Runs the bundled CLI from dist/, building it first when a fresh clone has no dist/.
'use strict';
const { existsSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { spawnSync } = require('node:child_process');
const root = join(__dirname, '..');
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

const loaded = loadCli(cli);
loaded.exports.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  loaded.save();
});
