// The objective ids and their predicates (src/core/objectives/objectiveIds.ts): one table, checked against the
// objectives that carry multipliers and the metric each targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OBJECTIVE_IDS,
  hasMultipliers,
  isCoverageObjective,
  isHeadTailCoverageObjective,
  isHMeanObjective,
  isMinRecallObjective,
  isObjectiveId,
} from '../../../../src/core/objectives/objectiveIds';
import { initialMultipliers } from '../../../../src/core/objectives/objectives';

test('the predicates partition the ids as the objectives table says', () => {
  assert.equal(OBJECTIVE_IDS.length, 9);
  assert.deepEqual(OBJECTIVE_IDS.filter(isCoverageObjective), [
    'meanRecallMinCoverage',
    'hMeanMinCoverage',
    'meanRecallMinHeadTailCoverage',
    'hMeanMinHeadTailCoverage',
  ]);
  assert.deepEqual(OBJECTIVE_IDS.filter(isHeadTailCoverageObjective), [
    'meanRecallMinHeadTailCoverage',
    'hMeanMinHeadTailCoverage',
  ]);
  assert.deepEqual(OBJECTIVE_IDS.filter(isMinRecallObjective), ['minRecall', 'minHeadTailRecall']);
  assert.deepEqual(OBJECTIVE_IDS.filter(isHMeanObjective), ['hMean', 'hMeanMinCoverage', 'hMeanMinHeadTailCoverage']);
  for (const id of OBJECTIVE_IDS) assert.equal(hasMultipliers(id), initialMultipliers(id, 4) !== null, id);
  assert.ok(isObjectiveId('gMean'));
  assert.ok(!isObjectiveId('gmean'));
});
