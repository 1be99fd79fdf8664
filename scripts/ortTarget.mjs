// Which native files a platform .vsix carries (ONNX Runtime's, and sharp's image decoder): the selection esbuild.mjs
// copies (SELMIX_ORT_TARGET) and the check scripts/package-targets.mjs runs on every package it builds
// (test/unit/scripts/ortTarget.test.ts covers both). onnxruntime-node ships every platform's binary in one package;
// sharp ships each platform's in its own npm packages (@img/sharp-<platform>, and @img/sharp-libvips-<platform> beside
// it except on Windows), which scripts/package-targets.mjs fetches with `npm pack` when they are not installed.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The vsce targets onnxruntime-node 1.30 ships a binary for (it has none for darwin-x64, alpine or armhf). */
export const ORT_TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];
/** onnxruntime-node's native files, per platform and arch below this folder of the package. */
export const ORT_BIN = 'bin/napi-v6';
/** Where the bundles find onnxruntime-node inside the extension (dist/node_modules, beside dist/worker.js). */
export const VSIX_ORT = 'extension/dist/node_modules/onnxruntime-node';
const NATIVE = /\.(node|so(\.\d+)*|dylib|dll)$/;
/** Where the bundles find sharp and its platform packages (dist/node_modules). */
export const VSIX_MODULES = 'extension/dist/node_modules';
/** sharp's JavaScript dependencies, copied beside it. */
export const SHARP_DEPS = ['sharp', '@img/colour', 'detect-libc', 'semver'];

/** sharp's native packages for one target: 'linux-x64' -> ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']. */
export function sharpPackages(target) {
  ortBinSubdir(target); // the same targets as ONNX Runtime
  return target.startsWith('win32-')
    ? [`@img/sharp-${target}`]
    : [`@img/sharp-${target}`, `@img/sharp-libvips-${target}`];
}

/** The folder of one target's native files, relative to the package: 'linux-x64' -> 'bin/napi-v6/linux/x64'. */
export function ortBinSubdir(target) {
  const m = /^(linux|darwin|win32)-(x64|arm64)$/.exec(target);
  if (!m) throw new Error(`"${target}" is not a platform-arch target (one of ${ORT_TARGETS.join(', ')})`);
  return `${ORT_BIN}/${m[1]}/${m[2]}`;
}

/** The platform-arch targets an installed onnxruntime-node has binaries for (from its bin folder). */
export function shippedOrtTargets(ortPackageDir) {
  const bin = join(ortPackageDir, ORT_BIN);
  if (!existsSync(bin)) return [];
  return readdirSync(bin)
    .flatMap((plat) => readdirSync(join(bin, plat)).map((arch) => `${plat}-${arch}`))
    .sort();
}

/**
 * Problems with the ONNX Runtime part of a package's file listing (zip entry names): a platform package must hold
 * exactly `ownFiles` (the file names in its target's bin folder) under its own bin folder, and no native file anywhere
 * else; the universal package ('universal') holds no onnxruntime-node and no native file at all. [] when it is right.
 */
export function checkVsixOrt(target, entries, ownFiles = []) {
  const problems = [];
  const universal = target === 'universal';
  const own = universal ? null : `${VSIX_ORT}/${ortBinSubdir(target)}/`;
  if (universal && entries.some((e) => e.startsWith(VSIX_ORT + '/')))
    problems.push(`the universal package holds ${VSIX_ORT}`);
  if (universal && entries.some((e) => e.startsWith(`${VSIX_MODULES}/sharp/`)))
    problems.push(`the universal package holds ${VSIX_MODULES}/sharp`);
  const sharpOwn = universal ? [] : sharpPackages(target).map((p) => `${VSIX_MODULES}/${p}/`);
  for (const e of entries) {
    if (!NATIVE.test(e)) continue;
    if (sharpOwn.some((p) => e.startsWith(p))) continue;
    if (!own || !e.startsWith(own))
      problems.push(`native file of another platform or outside ${own ?? 'any ONNX Runtime folder'}: ${e}`);
    else if (!ownFiles.includes(e.slice(own.length)))
      problems.push(`native file not in onnxruntime-node's ${ortBinSubdir(target)}: ${e}`);
  }
  if (own) {
    for (const f of ownFiles) if (!entries.includes(own + f)) problems.push(`missing ${own + f}`);
    if (!ownFiles.includes('onnxruntime_binding.node'))
      problems.push(`no onnxruntime_binding.node among the expected files of ${target}`);
    if (!entries.includes(`${VSIX_ORT}/package.json`)) problems.push(`missing ${VSIX_ORT}/package.json`);
    for (const dep of SHARP_DEPS)
      if (!entries.includes(`${VSIX_MODULES}/${dep}/package.json`))
        problems.push(`missing ${VSIX_MODULES}/${dep}/package.json`);
    const binding = `${VSIX_MODULES}/@img/sharp-${target}/lib/sharp-${target}.node`;
    if (!entries.includes(binding)) problems.push(`missing ${binding} (sharp's image decoder)`);
  }
  return problems;
}

/** The entry names of a zip file (a .vsix), read from its central directory. */
export function zipEntries(buf) {
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--)
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory record)');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const names = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip central directory entry ${i} is damaged`);
    const n = buf.readUInt16LE(p + 28),
      x = buf.readUInt16LE(p + 30),
      c = buf.readUInt16LE(p + 32);
    names.push(buf.toString('utf8', p + 46, p + 46 + n));
    p += 46 + n + x + c;
  }
  return names;
}
