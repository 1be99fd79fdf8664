// The one place that turns a config's objective into its compiled form: the custom expression when the config has
// one, else the built-in objective (compiledObjective.ts).
import { compileBuiltinObjective, type CompiledObjective } from './compiledObjective';
import { compileCustomObjective, type CustomObjectiveSpec } from './customObjective';
import type { ObjectiveId } from './objectiveIds';

/**
 * Compiles a config's objective for K classes: its customObjective when given (an ExprError with the field's path for
 * a bad expression), else the built-in objective.
 */
export function compileObjective(
  cfg: { objective: ObjectiveId; customObjective?: CustomObjectiveSpec | undefined },
  K: number,
): CompiledObjective {
  return cfg.customObjective
    ? compileCustomObjective(cfg.customObjective, K)
    : compileBuiltinObjective(cfg.objective, K);
}
