// The whole-network step graph's update (feature mixup, cross-entropy, momentum, weight decay on 2-D and larger
// parameters, the backbone at lr x backboneLrFactor) against the same two steps in PyTorch
// (test/fixtures/onnx/grad/export_op_fixtures.py, selmix_steps), and lr 0 leaving every parameter as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { closeness, loadNetwork, readRef, type StepRef } from './networkGrad';
import { withOrtThreads } from '../../helpers/ortThreads';
import { OrtNetwork, OrtNetworkStep, OrtSaliency, probeNetwork } from '../../../src/backend/onnxNetworkStep';

const DIR = join(__dirname, '..', '..', 'fixtures', 'onnx', 'grad');

/** The test networks and the opset each is exported at. */
const NETS = [
  ['residual', 17],
  ['depthwise', 11],
  ['attention', 17],
  ['bn_pools', 11],
] as const;

for (const [name, opset] of NETS) {
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

/** A copy of a parameter map. */
const copyOf = (v: Map<string, Float32Array>) => new Map([...v].map(([k, a]) => [k, a.slice()]));
const zerosLike = (v: Map<string, Float32Array>) => new Map([...v].map(([k, a]) => [k, new Float32Array(a.length)]));

test("the saliency graph gives each image's input gradient: B x PyTorch's gradient of the mean loss", () => {
  for (const [name, opset] of [
    ['residual', 17],
    ['bn_pools', 11],
  ] as const) {
    const ref = readRef(join(DIR, `${name}.ref.json`));
    const { m, values } = loadNetwork(join(DIR, `${name}_op${opset}.onnx`));
    const B = ref.labels.length;
    const ex = ref.input.dims.slice(1);
    const s = new OrtSaliency(m, probeNetwork(m, ex), B, ex);
    try {
      const got = s.run(values, Float32Array.from(ref.input.data), Int32Array.from(ref.labels));
      const want = ref.grads.__input__!.data.map((v) => v * B);
      const c = closeness(got, want, 2e-6 * B, 1e-4);
      assert.ok(c.worst <= 0, `${name}: entry ${c.at}: ${got[c.at]} vs PyTorch x B ${want[c.at]}`);
    } finally {
      s.dispose();
    }
  }
});

test('an input-mixed step with one-hot targets is the feature step at lam 1 (checked against PyTorch above)', () => {
  const ref = readRef(join(DIR, 'residual.ref.json')) as ReturnType<typeof readRef> & { step: StepRef };
  const { m, values } = loadNetwork(join(DIR, 'residual_op17.onnx'));
  const B = ref.labels.length;
  const ex = ref.input.dims.slice(1);
  const probes = probeNetwork(m, ex);
  const feat = new OrtNetworkStep(m, probes, B, ex);
  const inp = new OrtNetworkStep(m, probes, B, ex, undefined, 'input');
  const K = m.head.K;
  const xa = Float32Array.from(ref.input.data);
  const ya = Int32Array.from(ref.labels);
  const y = new Float32Array(B * K);
  ya.forEach((c, i) => (y[i * K + c] = 1));
  const p = { lr: 0.05, momentum: 0.9, wd: 0.01, backboneLrFactor: 0.1 };
  try {
    const v1 = copyOf(values);
    const v2 = copyOf(values);
    const l1 = feat.step(v1, zerosLike(values), { xa, xp: xa.map((v) => -v), lam: new Float32Array(B).fill(1), ya }, p);
    const l2 = inp.step(v2, zerosLike(values), { xa, xp: xa, lam: new Float32Array(B), ya, y }, p);
    assert.ok(Math.abs(l1 - l2) < 1e-6, `${l1} vs ${l2}`);
    for (const [k, a] of v1) {
      const c = closeness(v2.get(k)!, a, 1e-6, 1e-5);
      assert.ok(c.worst <= 0, `${k}: entry ${c.at}`);
    }
    assert.throws(() => inp.step(copyOf(values), zerosLike(values), { xa, xp: xa, lam: y, ya }, p), /soft targets/);
  } finally {
    feat.dispose();
    inp.dispose();
  }
});

test('soft targets: the loss and the update are the weighted ones of the two labels; the gradient is the loss slope', () => {
  const ref = readRef(join(DIR, 'residual.ref.json'));
  const { m, values } = loadNetwork(join(DIR, 'residual_op17.onnx'));
  const B = ref.labels.length;
  const ex = ref.input.dims.slice(1);
  const K = m.head.K;
  const step = new OrtNetworkStep(m, probeNetwork(m, ex), B, ex, undefined, 'input');
  const xa = Float32Array.from(ref.input.data);
  const ya = Int32Array.from(ref.labels);
  const yb = ya.map((c) => (c + 1) % K);
  const w = Float32Array.of(0.7, 0.4);
  const target = (wa: ArrayLike<number>) => {
    const y = new Float32Array(B * K);
    for (let i = 0; i < B; i++) {
      y[i * K + ya[i]!] += wa[i]!;
      y[i * K + yb[i]!] += 1 - wa[i]!;
    }
    return y;
  };
  const lr = 0.1;
  const p = { lr, momentum: 0, wd: 0, backboneLrFactor: 0.5 };
  const run = (vals: Map<string, Float32Array>, y: Float32Array, q = p) =>
    step.step(vals, zerosLike(vals), { xa, xp: xa, lam: w, ya, y }, q);
  try {
    // The loss and the gradient are linear in the target: with momentum and weight decay 0 so is the update, so the
    // step at w e_a + (1 - w) e_b is w x (the step at e_a) + (1 - w) x (the step at e_b).
    const wAll = Float32Array.of(0.7, 0.7);
    const vMix = copyOf(values);
    const vA = copyOf(values);
    const vB = copyOf(values);
    const lMix = run(vMix, target(wAll));
    const lA = run(vA, target([1, 1]));
    const lB = run(vB, target([0, 0]));
    assert.ok(Math.abs(lMix - (0.7 * lA + 0.3 * lB)) < 1e-5, `loss ${lMix} vs ${0.7 * lA + 0.3 * lB}`);
    for (const [k, a] of vMix) {
      const want = a.map((_, i) => 0.7 * vA.get(k)![i]! + 0.3 * vB.get(k)![i]!);
      const c = closeness(a, want, 1e-6, 1e-4);
      assert.ok(c.worst <= 0, `${k}: entry ${c.at}: ${a[c.at]} vs ${want[c.at]}`);
    }
    // Central finite difference of the loss (lr 0 steps) against the step's gradient (p - p') / lr, on the head bias
    // and one backbone weight (its lr is lr x backboneLrFactor), with per-row weights.
    const y = target(w);
    const after = copyOf(values);
    run(after, y);
    for (const [name, idx, rate] of [
      [m.head.biasName, 1, lr],
      ['body.c1.weight', 3, lr * 0.5],
    ] as const) {
      const g = (values.get(name)![idx]! - after.get(name)![idx]!) / rate;
      const h = 1e-2;
      const at = (d: number) => {
        const v = copyOf(values);
        v.get(name)![idx] = v.get(name)![idx]! + d;
        return run(v, y, { ...p, lr: 0 });
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      assert.ok(Math.abs(fd - g) <= 2e-3 + 2e-2 * Math.abs(g), `${name}[${idx}]: finite difference ${fd} vs ${g}`);
      assert.ok(Math.abs(g) > 1e-4, `${name}[${idx}] has a gradient to check`);
    }
  } finally {
    step.dispose();
  }
});

for (const [name, opset] of NETS) {
  test(`the ${name} step graph on two threads (SELMIX_ORT_THREADS=2) gives the bits of one, and so do its forward passes on every core (their default): three steps at batch 32`, () => {
    const ref = readRef(join(DIR, `${name}.ref.json`)) as ReturnType<typeof readRef> & { step: StepRef };
    const ex = ref.input.dims.slice(1);
    const per = ex.reduce((a, v) => a * v, 1);
    const n = ref.labels.length;
    const B = 32;
    // The reference batch tiled to 32 rows, each copy scaled a little differently, partners shifted by one row.
    const tile = (src: ArrayLike<number>): Float32Array =>
      Float32Array.from({ length: B * per }, (_, t) => src[t % (n * per)]! * (1 + 0.01 * Math.floor(t / per)));
    const batch = {
      xa: tile(ref.input.data),
      xp: tile(Array.from({ length: n * per }, (_, t) => ref.input.data[(t + per) % (n * per)]!)),
      lam: Float32Array.from({ length: B }, (_, i) => 0.6 + (0.4 * i) / B),
      ya: Int32Array.from({ length: B }, (_, i) => ref.labels[i % n]!),
    };
    const p = { lr: 0.05, momentum: 0.9, wd: 1e-3, backboneLrFactor: 0.5 };
    const same = (a: Float32Array, b: Float32Array, what: string): void => {
      assert.equal(b.length, a.length, what);
      for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${b[i]} against ${a[i]}`);
    };
    const run = (threads: string): { values: Map<string, Float32Array>; losses: number[] } =>
      withOrtThreads(threads, () => {
        const { m, values } = loadNetwork(join(DIR, `${name}_op${opset}.onnx`));
        const step = new OrtNetworkStep(m, probeNetwork(m, ex), B, ex);
        const mom = zerosLike(values);
        try {
          const losses = [0, 1, 2].map(() => step.step(values, mom, batch, p));
          return { values, losses };
        } finally {
          step.dispose();
        }
      });
    const one = run('1');
    const two = run('2');
    assert.deepEqual(two.losses, one.losses);
    for (const [k, a] of one.values) same(a, two.values.get(k)!, k);
    // The forward pass (validation and evaluation: an 'all' session) on the trained values, both ways.
    const forward = (threads: string | undefined): { features: Float32Array; logits: Float32Array } =>
      withOrtThreads(threads, () => {
        const { m } = loadNetwork(join(DIR, `${name}_op${opset}.onnx`));
        const net = new OrtNetwork(m, probeNetwork(m, ex), ex);
        try {
          return net.run(batch.xa, B, one.values);
        } finally {
          net.dispose();
        }
      });
    const f1 = forward('1'),
      fAll = forward(undefined);
    same(f1.features, fAll.features, 'features');
    same(f1.logits, fAll.logits, 'logits');
  });
}
