// The built-in objective ids and the predicates on them (docs/ALGORITHM.md section 2): the one place that
// says which objectives carry multipliers, which have a coverage constraint and on what.

/** Objective ids, fixed across configs, CLI and UI (docs/ALGORITHM.md section 2). */
export const OBJECTIVE_IDS = [
  'meanRecall',
  'minRecall',
  'minHeadTailRecall',
  'gMean',
  'hMean',
  'meanRecallMinCoverage',
  'hMeanMinCoverage',
  'meanRecallMinHeadTailCoverage',
  'hMeanMinHeadTailCoverage',
] as const;

/** One of the nine objective ids of OBJECTIVE_IDS. */
export type ObjectiveId = (typeof OBJECTIVE_IDS)[number];

/** True for a known objective id (for input that is not typed yet, such as a command-line flag). */
export function isObjectiveId(s: string): s is ObjectiveId {
  return (OBJECTIVE_IDS as readonly string[]).includes(s);
}

/** True for the min-type objectives, linearised with recall multipliers (minRecall, minHeadTailRecall). */
export function isMinRecallObjective(id: ObjectiveId): boolean {
  return id === 'minRecall' || id === 'minHeadTailRecall';
}

/** True for the objectives with a coverage constraint. */
export function isCoverageObjective(id: ObjectiveId): boolean {
  return (
    id === 'meanRecallMinCoverage' ||
    id === 'hMeanMinCoverage' ||
    id === 'meanRecallMinHeadTailCoverage' ||
    id === 'hMeanMinHeadTailCoverage'
  );
}

/** True for the coverage objectives whose constraint is on the head and tail mean coverage. */
export function isHeadTailCoverageObjective(id: ObjectiveId): boolean {
  return id === 'meanRecallMinHeadTailCoverage' || id === 'hMeanMinHeadTailCoverage';
}

/** True for the objectives built on the H-mean of the recalls (hMean and its constrained forms). */
export function isHMeanObjective(id: ObjectiveId): boolean {
  return id === 'hMean' || id === 'hMeanMinCoverage' || id === 'hMeanMinHeadTailCoverage';
}

/** True for the objectives that carry multipliers (recomputed at every refresh). */
export function hasMultipliers(id: ObjectiveId): boolean {
  return isMinRecallObjective(id) || isCoverageObjective(id);
}

/**
 * The default of every switch over an ObjectiveId: a case left out does not type-check (id is not never), and an id
 * from outside the type system is a RangeError at run time instead of a silent fall-through.
 */
export function unknownObjective(id: never): never {
  throw new RangeError(`unknown objective ${JSON.stringify(id)}`);
}
