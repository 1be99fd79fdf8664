// Whole models against PyTorch (test/fixtures/onnx/nets, written by export_nets.py): a ResNet with BatchNorm, a
// depthwise CNN (ReLU6, HardSwish, squeeze-excite) and a small ViT (LayerNorm, GELU, attention, cls token), each at
// opsets 11, 13 and 17 with a fixed and a dynamic batch: the loss, every trained parameter's gradient and the input's
// match PyTorch autograd, and one and two whole-network SGD steps match PyTorch's. The BatchNorm-folded export trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { closeness, gradsOf, loadNetwork, readRef, type RefTensor } from './networkGrad';
import { OrtNetworkStep, probeNetwork } from '../../../src/backend/onnxNetworkStep';

const DIR = join(__dirname, '..', '..', 'fixtures', 'onnx', 'nets');

interface NetStep {
  partners: RefTensor;
  lam: number[];
  lr: number;
  momentum: number;
  weightDecay: number;
  backboneLrFactor: number;
  head: string[];
  decayed: string[];
  frozen: string[];
  loss: number;
  paramsAfter: Record<string, RefTensor>;
  paramsAfterTwo: Record<string, RefTensor>;
}

for (const net of ['resnet', 'depthwise', 'vit']) {
  for (const opset of [11, 13, 17]) {
    for (const batch of ['dyn', 'fixed']) {
      const file = join(DIR, `${net}_op${opset}_${batch}.onnx`);
      if (!existsSync(file)) continue;
      test(`${net} (opset ${opset}, ${batch} batch): gradients and two SGD steps match PyTorch`, () => {
        const ref = readRef(join(DIR, `${net}.ref.json`)) as ReturnType<typeof readRef> & { step: NetStep };
        const { m, values } = loadNetwork(file);
        assert.deepEqual(
          m.unsupported.map((n) => n.opType),
          [],
        );
        const st = ref.step;
        assert.deepEqual(
          [...m.params].sort(),
          Object.keys(st.paramsAfter).sort(),
          "trained: every parameter but BatchNorm's",
        );
        const r = gradsOf(m, values, ref);
        assert.ok(
          Math.abs(r.loss - ref.loss) < 1e-5 * Math.max(1, Math.abs(ref.loss)),
          `loss ${r.loss} vs PyTorch ${ref.loss}`,
        );
        for (const p of m.params) {
          const c = closeness(r.grads.get(p)!, ref.grads[p]!.data, 1e-6, 2e-4);
          assert.ok(
            c.worst <= 0,
            `d loss / d ${p}: entry ${c.at}: ${r.grads.get(p)![c.at]} vs PyTorch ${ref.grads[p]!.data[c.at]}`,
          );
        }
        const ci = closeness(r.input, ref.grads.__input__!.data, 1e-6, 2e-4);
        assert.ok(
          ci.worst <= 0,
          `d loss / d input: entry ${ci.at}: ${r.input[ci.at]} vs PyTorch ${ref.grads.__input__!.data[ci.at]}`,
        );
        const B = ref.labels.length;
        const ex = ref.input.dims.slice(1);
        const step = new OrtNetworkStep(m, probeNetwork(m, ex), B, ex, new Set(st.decayed));
        try {
          const mom = new Map([...values].map(([k, v]) => [k, new Float32Array(v.length)]));
          const bt = {
            xa: Float32Array.from(ref.input.data),
            xp: Float32Array.from(st.partners.data),
            lam: Float32Array.from(st.lam),
            ya: Int32Array.from(ref.labels),
          };
          const hp = { lr: st.lr, momentum: st.momentum, wd: st.weightDecay, backboneLrFactor: st.backboneLrFactor };
          const loss = step.step(values, mom, bt, hp);
          assert.ok(Math.abs(loss - st.loss) < 1e-5 * Math.max(1, st.loss), `mixup loss ${loss} vs PyTorch ${st.loss}`);
          for (const [after, want] of [
            [1, st.paramsAfter],
            [2, st.paramsAfterTwo],
          ] as const) {
            if (after === 2) step.step(values, mom, bt, hp);
            for (const [k, w] of Object.entries(want)) {
              const c = closeness(values.get(k)!, w.data, 1e-6, 1e-4);
              assert.ok(
                c.worst <= 0,
                `${k} after ${after} step(s): entry ${c.at}: ${values.get(k)![c.at]} vs PyTorch ${w.data[c.at]}`,
              );
            }
          }
        } finally {
          step.dispose();
        }
      });
    }
  }
  const folded = join(DIR, `${net}_folded.onnx`);
  if (existsSync(folded)) {
    test(`${net} with BatchNorm folded: trainable, and a step lowers the loss on its batch`, () => {
      const ref = readRef(join(DIR, `${net}.ref.json`));
      const { m, values } = loadNetwork(folded);
      assert.deepEqual(
        m.unsupported.map((n) => n.opType),
        [],
      );
      assert.ok(m.params.length > 2);
      const B = ref.labels.length;
      const ex = ref.input.dims.slice(1);
      const step = new OrtNetworkStep(m, probeNetwork(m, ex), B, ex);
      try {
        const mom = new Map([...values].map(([k, v]) => [k, new Float32Array(v.length)]));
        const x = Float32Array.from(ref.input.data);
        const bt = { xa: x, xp: x, lam: new Float32Array(B).fill(1), ya: Int32Array.from(ref.labels) };
        const hp = { lr: 0.05, momentum: 0, wd: 0, backboneLrFactor: 1 };
        const first = step.step(values, mom, bt, hp);
        assert.ok(
          Math.abs(first - ref.loss) < 1e-4,
          `loss ${first} vs PyTorch ${ref.loss} (the folded model computes the same function)`,
        );
        let last = first;
        for (let i = 0; i < 3; i++) last = step.step(values, mom, bt, hp);
        assert.ok(last < first, `loss ${first} -> ${last}`);
      } finally {
        step.dispose();
      }
    });
  }
}
