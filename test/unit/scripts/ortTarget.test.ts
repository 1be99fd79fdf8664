// The platform packages' ONNX Runtime selection (scripts/ortTarget.mjs): the targets match the binaries the installed
// onnxruntime-node ships, each target's folder is its own, and the listing check refuses another platform's binary,
// a missing one, or any native file in the universal package. The real .vsix files are listed by
// scripts/package-targets.mjs (run in npm run test:e2e).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  checkVsixOrt,
  ORT_TARGETS,
  ortBinSubdir,
  SHARP_DEPS,
  sharpPackages,
  shippedOrtTargets,
  VSIX_MODULES,
  VSIX_ORT,
  zipEntries,
} from '../../../scripts/ortTarget.mjs';

const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
const own = (t: string) => readdirSync(join(ortDir, ortBinSubdir(t)));
/** What a correct platform package lists: the bundles, the JS of onnxruntime-node and its own bin folder. */
const listing = (t: string) => [
  'extension/package.json',
  'extension/dist/worker.js',
  'extension/dist/tfjs-backend-wasm-simd.wasm',
  `${VSIX_ORT}/package.json`,
  `${VSIX_ORT}/dist/binding.js`,
  ...own(t).map((f) => `${VSIX_ORT}/${ortBinSubdir(t)}/${f}`),
  ...SHARP_DEPS.map((d) => `${VSIX_MODULES}/${d}/package.json`),
  `${VSIX_MODULES}/@img/sharp-${t}/lib/sharp-${t}.node`,
  ...(t.startsWith('win32') ? [] : [`${VSIX_MODULES}/@img/sharp-libvips-${t}/lib/libvips-cpp.so.8.17.3`]),
];

test('the targets are exactly the platforms onnxruntime-node ships a binary for (no darwin-x64 in 1.30)', () => {
  assert.deepEqual(shippedOrtTargets(ortDir), [...ORT_TARGETS].sort());
  assert.ok(!ORT_TARGETS.includes('darwin-x64'));
  for (const t of ORT_TARGETS) assert.ok(own(t).includes('onnxruntime_binding.node'), `${t} has a binding`);
});

test('each target maps to its own bin folder; anything else is refused', () => {
  assert.equal(ortBinSubdir('linux-x64'), 'bin/napi-v6/linux/x64');
  assert.equal(ortBinSubdir('win32-arm64'), 'bin/napi-v6/win32/arm64');
  assert.throws(() => ortBinSubdir('universal'), /not a platform-arch target/);
  assert.throws(() => ortBinSubdir('linux-armhf'), /not a platform-arch target/);
  assert.equal(new Set(ORT_TARGETS.map(ortBinSubdir)).size, ORT_TARGETS.length);
});

test("a platform listing passes with exactly its own files and fails with another platform's or a missing one", () => {
  for (const t of ORT_TARGETS) {
    assert.deepEqual(checkVsixOrt(t, listing(t), own(t)), [], t);
    for (const other of ORT_TARGETS.filter((o) => o !== t)) {
      const mixed = [...listing(t), `${VSIX_ORT}/${ortBinSubdir(other)}/onnxruntime_binding.node`];
      assert.match(checkVsixOrt(t, mixed, own(t)).join('\n'), /another platform/, `${t} with ${other}'s binding`);
    }
    const missing = listing(t).filter((e) => !e.endsWith('onnxruntime_binding.node'));
    assert.match(checkVsixOrt(t, missing, own(t)).join('\n'), /missing .*onnxruntime_binding\.node/);
  }
  const stray = [...listing('linux-x64'), `${VSIX_ORT}/${ortBinSubdir('linux-x64')}/libextra.so`];
  assert.match(checkVsixOrt('linux-x64', stray, own('linux-x64')).join('\n'), /not in onnxruntime-node's/);
  assert.match(
    checkVsixOrt('linux-x64', [...listing('linux-x64'), 'extension/dist/sharp.node'], own('linux-x64')).join('\n'),
    /outside/,
  );
});

test("sharp: each platform package carries its own @img packages; another platform's sharp binary, a missing one, or sharp in the universal package is refused", () => {
  assert.deepEqual(sharpPackages('linux-x64'), ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']);
  assert.deepEqual(sharpPackages('win32-x64'), ['@img/sharp-win32-x64']);
  assert.throws(() => sharpPackages('universal'), /not a platform-arch target/);
  const t = 'linux-x64';
  const noSharp = listing(t).filter((e) => !e.includes('/@img/sharp-linux-x64/'));
  assert.match(checkVsixOrt(t, noSharp, own(t)).join('\n'), /missing .*sharp-linux-x64\.node/);
  assert.match(
    checkVsixOrt(
      t,
      [...listing(t), `${VSIX_MODULES}/@img/sharp-darwin-arm64/lib/sharp-darwin-arm64.node`],
      own(t),
    ).join('\n'),
    /another platform/,
  );
  assert.match(
    checkVsixOrt('universal', ['extension/package.json', `${VSIX_MODULES}/sharp/package.json`]).join('\n'),
    /universal package holds .*sharp/,
  );
});

test('the universal listing passes without ONNX Runtime and fails with any of it', () => {
  const base = ['extension/package.json', 'extension/dist/worker.js', 'extension/dist/tfjs-backend-wasm.wasm'];
  assert.deepEqual(checkVsixOrt('universal', base), []);
  assert.match(checkVsixOrt('universal', [...base, `${VSIX_ORT}/package.json`]).join('\n'), /universal package holds/);
  // One problem per native file (ONNX Runtime's and sharp's), plus one for each of the two package folders.
  assert.equal(
    checkVsixOrt('universal', listing('linux-x64')).length,
    listing('linux-x64').filter((f) => /\.(node|so)/.test(f)).length + 2,
  );
});

/** A zip with stored (uncompressed) entries, written by hand: local headers, central directory, end record. */
function storedZip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const n = Buffer.from(name),
      data = Buffer.from(text);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test('zipEntries reads the names from the central directory; a file that is not a zip is refused', () => {
  const names = [
    'extension/package.json',
    `${VSIX_ORT}/bin/napi-v6/linux/x64/libonnxruntime.so.1`,
    'extension.vsixmanifest',
  ];
  assert.deepEqual(zipEntries(storedZip(Object.fromEntries(names.map((n, i) => [n, 'x'.repeat(i * 10)])))), names);
  assert.throws(
    () => zipEntries(Buffer.from('not a zip file at all, just text that is long enough')),
    /not a zip file/,
  );
});
