// The whole-network step graph's update (feature mixup, cross-entropy, momentum, weight decay on 2-D and larger
// parameters, the backbone at lr x backboneLrFactor) against the same two steps in PyTorch
// (test/fixtures/onnx/grad/export_op_fixtures.py, selmix_steps), and lr 0 leaving every parameter as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { closeness, loadNetwork, readRef, type StepRef } from './networkGrad';
import { OrtNetworkStep, probeNetwork } from '../../../src/backend/onnxNetworkStep';

const DIR = join(__dirname, '..', '..', 'fixtures', 'onnx', 'grad');

for (const [name, opset] of [
  ['residual', 17],
  ['depthwise', 11],
  ['attention', 17],
  ['bn_pools', 11],
] as const) {
  test(`two SelMix steps on ${name} (opset ${opset}) match PyTorch's SGD`, () => {
    const ref = readRef(join(DIR, `${name}.ref.json`)) as ReturnType<typeof readRef> & { step: StepRef };
    const { m, values } = loadNetwork(join(DIR, `${name}_op${opset}.onnx`));
    const B = ref.labels.length;
    const ex = ref.input.dims.slice(1);
    const step = new OrtNetworkStep(m, probeNetwork(m, ex), B, ex);
    const mom = new Map([...values].map(([k, v]) => [k, new Float32Array(v.length)]));
    const st = ref.step;
    const batch = {
      xa: Float32Array.from(ref.input.data),
      xp: Float32Array.from(st.partners.data),
      lam: Float32Array.from(st.lam),
      ya: Int32Array.from(ref.labels),
    };
    const p = { lr: st.lr, momentum: st.momentum, wd: st.weightDecay, backboneLrFactor: st.backboneLrFactor };
    try {
      for (let s = 0; s < (st.steps ?? 1); s++) step.step(values, mom, batch, p);
      for (const [k, want] of Object.entries(st.paramsAfter)) {
        const c = closeness(values.get(k)!, want.data, 1e-5, 1e-4);
        assert.ok(c.worst <= 0, `${k}: entry ${c.at}: ${values.get(k)![c.at]} vs PyTorch ${want.data[c.at]}`);
      }
      assert.deepEqual([...values.keys()].sort(), Object.keys(st.paramsAfter).sort());
    } finally {
      step.dispose();
    }
  });
}

test('a step with lr 0 changes no parameter; with lr > 0 the backbone moves', () => {
  const ref = readRef(join(DIR, 'residual.ref.json')) as ReturnType<typeof readRef> & { step: StepRef };
  const { m, values } = loadNetwork(join(DIR, 'residual_op17.onnx'));
  const ex = ref.input.dims.slice(1);
  const step = new OrtNetworkStep(m, probeNetwork(m, ex), 2, ex);
  const before = new Map([...values].map(([k, v]) => [k, v.slice()]));
  const mom = new Map([...values].map(([k, v]) => [k, new Float32Array(v.length)]));
  const batch = {
    xa: Float32Array.from(ref.input.data),
    xp: Float32Array.from(ref.step.partners.data),
    lam: Float32Array.of(0.7, 0.9),
    ya: Int32Array.from(ref.labels),
  };
  try {
    const loss = step.step(values, mom, batch, { lr: 0, momentum: 0.9, wd: 0.01, backboneLrFactor: 0.1 });
    assert.ok(loss > 0 && Number.isFinite(loss));
    for (const [k, v] of before) assert.deepEqual(values.get(k), v, `${k} changed with lr 0`);
    step.step(values, mom, batch, { lr: 0.1, momentum: 0, wd: 0, backboneLrFactor: 0.1 });
    assert.notDeepEqual(values.get('body.c1.weight'), before.get('body.c1.weight'));
  } finally {
    step.dispose();
  }
});
