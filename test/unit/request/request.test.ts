// The overrides a run request may carry (CLI flags, a sweep's temperature and output, the editor's default
// output folder): checked with the config schema's own rules, each problem naming its flag, and applied after
// schema validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/core/config';
import { DEMO_CONFIG } from '../../../src/request/demo';
import { applyOverrides, overrideProblems, parseNumberFlag } from '../../../src/request/request';

test('valid overrides have no problems; no overrides are valid', () => {
  assert.deepEqual(overrideProblems(undefined), []);
  assert.deepEqual(overrideProblems({}), []);
  assert.deepEqual(overrideProblems({ temperature: 0.5, output: '/o/sweep-s0.5' }), []);
  assert.deepEqual(overrideProblems({ steps: 3, seed: 7, objective: 'gMean' }), []);
});

test('each bad override is one problem in words, naming the flag it comes from', () => {
  assert.equal(overrideProblems([]).length, 1, 'not an object');
  assert.match(overrideProblems({ temperature: 0 })[0]!, /^--temperature: /);
  assert.match(overrideProblems({ temperature: '1' })[0]!, /^--temperature: .*number/);
  assert.match(overrideProblems({ output: ' ' })[0]!, /^--out: /);
  assert.match(overrideProblems({ steps: -1 })[0]!, /^--steps: /);
  assert.match(overrideProblems({ seed: 1.5 })[0]!, /^--seed: /);
  assert.match(overrideProblems({ objective: 'bestRecall' })[0]!, /^--objective: .*minRecall/);
  assert.match(overrideProblems({ lr: 3 })[0]!, /cannot be overridden \(lr\)/);
  assert.equal(overrideProblems({ temperature: 0, steps: 0 }).length, 2, 'every problem, not the first');
});

test('overrides are applied after validation, keeping every other field', () => {
  const cfg = parseConfig(JSON.stringify(DEMO_CONFIG), 'x.selmix.json');
  const c = applyOverrides(cfg, { temperature: 100, output: '/abs/sweep-s100', steps: 5, seed: 3, objective: 'gMean' });
  assert.equal(c.selmix.temperature, 100);
  assert.equal(c.output, '/abs/sweep-s100');
  assert.equal(c.training.steps, 5);
  assert.equal(c.training.seed, 3);
  assert.equal(c.objective, 'gMean');
  assert.equal(c.selmix.policy, cfg.selmix.policy, 'other selmix fields kept');
  assert.equal(c.training.batchSize, cfg.training.batchSize, 'other training fields kept');
  assert.deepEqual(applyOverrides(cfg, {}), cfg);
  assert.deepEqual(applyOverrides(cfg, undefined), cfg);
});

test('number flags are plain decimals', () => {
  assert.equal(parseNumberFlag('--steps', '300'), 300);
  assert.equal(parseNumberFlag('--temperature', '1e-1'), 0.1);
  for (const bad of ['0x10', '1e', '', 'abc'])
    assert.deepEqual(parseNumberFlag('--steps', bad), { error: `--steps: "${bad}" is not a number` });
});
