// Every gradient rule of src/formats/onnx/gradients.ts against PyTorch autograd: tiny classifiers (the op under test,
// then a Linear head) exported at opsets 11 and 17 by test/fixtures/onnx/grad/export_op_fixtures.py, with PyTorch's
// loss and gradients. The step graph (lam = 1, lr = 0) outputs the gradients; they must match to float32 tolerance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { closeness, gradsOf, loadNetwork, readRef } from './networkGrad';

const DIR = join(__dirname, '..', '..', 'fixtures', 'onnx', 'grad');
const CASES = ['conv_relu', 'conv_dilated_grouped', 'depthwise', 'bn_pools', 'residual', 'slicing', 'mlp', 'attention'];

for (const name of CASES) {
  for (const opset of [11, 17]) {
    const file = join(DIR, `${name}_op${opset}.onnx`);
    if (!existsSync(file)) continue;
    test(`gradients of ${name} (opset ${opset}) match PyTorch autograd`, () => {
      const ref = readRef(join(DIR, `${name}.ref.json`));
      const { m, values } = loadNetwork(file);
      assert.deepEqual(
        m.unsupported.map((n) => n.opType),
        [],
      );
      const want = Object.keys(ref.grads)
        .filter((k) => k !== '__input__')
        .sort();
      assert.deepEqual([...m.params].sort(), want, "the trainable parameters are PyTorch's (BatchNorm excluded)");
      const r = gradsOf(m, values, ref);
      assert.ok(Math.abs(r.loss - ref.loss) < 1e-5, `loss ${r.loss} vs PyTorch ${ref.loss}`);
      for (const p of want) {
        const c = closeness(r.grads.get(p)!, ref.grads[p]!.data, 2e-6, 1e-4);
        assert.ok(
          c.worst <= 0,
          `d loss / d ${p}: entry ${c.at}: ${r.grads.get(p)![c.at]} vs PyTorch ${ref.grads[p]!.data[c.at]}`,
        );
      }
      const ci = closeness(r.input, ref.grads.__input__!.data, 2e-6, 1e-4);
      assert.ok(
        ci.worst <= 0,
        `d loss / d input: entry ${ci.at}: ${r.input[ci.at]} vs PyTorch ${ref.grads.__input__!.data[ci.at]}`,
      );
    });
  }
}
