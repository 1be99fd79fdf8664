// Which float initializers differ between two ONNX files, decoded with the project's own codec: prints one JSON object
// {changed: [{name, maxAbsDiff}], same: [names], onlyInOne: [names]}. The ONNX e2e runs it (node --import tsx) on the
// input model and the written model.onnx of a whole-network run.
// Usage: node --import tsx test/e2e/onnxInitializerDiff.ts <a.onnx> <b.onnx>
import { readFileSync } from 'node:fs';
import { decodeOnnx, tensorFloats } from '../../src/formats/onnx/proto';

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: onnxInitializerDiff.ts <a.onnx> <b.onnx>');
  process.exit(2);
}
const floats = (path: string): Map<string, Float32Array> => {
  const m = new Map<string, Float32Array>();
  for (const t of decodeOnnx(readFileSync(path)).graph?.initializer ?? []) {
    const v = tensorFloats(t);
    if (v) m.set(t.name ?? '', v);
  }
  return m;
};
const A = floats(a);
const B = floats(b);
const changed: { name: string; maxAbsDiff: number }[] = [];
const same: string[] = [];
const onlyInOne = [...A.keys(), ...B.keys()].filter((n) => !A.has(n) || !B.has(n));
for (const [name, va] of A) {
  const vb = B.get(name);
  if (!vb) continue;
  let d = va.length === vb.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < va.length && i < vb.length; i++) d = Math.max(d, Math.abs(va[i]! - vb[i]!));
  if (d > 0) changed.push({ name, maxAbsDiff: d });
  else same.push(name);
}
console.log(JSON.stringify({ changed, same, onlyInOne }));
