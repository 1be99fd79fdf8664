// The pseudo-labels' sentence (src/protocol/pseudoLabels.ts): who labelled the unlabeled set and how many passed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pseudoLabelLine, pseudoLabelSource } from '../../../src/protocol/pseudoLabels';

test('the Mean Teacher and the model itself are named, with the teacher decay, the threshold and the passed count', () => {
  const ema = { source: 'ema', decay: 0.99, threshold: 0.5, passed: 412, total: 492, step: 275 } as const;
  assert.equal(pseudoLabelSource(ema), 'the Mean Teacher (exponential moving average of the weights, decay 0.99)');
  assert.equal(
    pseudoLabelLine(ema),
    'unlabeled partners: pseudo-labels from the Mean Teacher (exponential moving average of the weights, decay 0.99); 412 of 492 unlabeled examples reached the confidence threshold 0.5 at the last refresh (step 275)',
  );
  const self = { source: 'self', threshold: 0, passed: 30, total: 30, step: 0 } as const;
  assert.equal(
    pseudoLabelLine(self),
    'unlabeled partners: pseudo-labels from the model being trained; 30 of 30 unlabeled examples reached the confidence threshold 0 at the last refresh (step 0)',
  );
});
