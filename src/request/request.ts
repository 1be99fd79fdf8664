// The one run request every surface builds (the CLI from its flags, the extension from the file's text, the
// sweep and the experiments from a config they make) and the one set of overrides it may carry.
import { z } from 'zod';
import { configSchema, type SelmixConfig } from '../core/config';
import { OBJECTIVE_IDS, type ObjectiveId } from '../core/objectives/objectiveIds';
import type { RunOverrides, RunRequest } from '../protocol/messages';

export type { RunOverrides, RunRequest };

const shape = configSchema.shape;
const training = shape.training.unwrap().shape;
const selmix = shape.selmix.unwrap().shape;

/** The overrides a request may carry, validated with the config schema's own field rules. */
const overridesSchema = z
  .strictObject({
    steps: training.steps.unwrap(),
    seed: training.seed.unwrap(),
    temperature: selmix.temperature.unwrap(),
    objective: z.enum(OBJECTIVE_IDS),
    output: z.string().trim().min(1),
  })
  .partial();

/** The flag (or request field) each override comes from, for messages. */
const FLAG_OF: Record<keyof RunOverrides, string> = {
  steps: '--steps',
  seed: '--seed',
  temperature: '--temperature',
  objective: '--objective',
  output: '--out',
};

/** Checks a request's overrides; returns every problem in words, naming the flag (none: valid). */
export function overrideProblems(o: unknown): string[] {
  if (o === undefined) return [];
  const r = overridesSchema.safeParse(o);
  if (r.success) return [];
  return r.error.issues.map((i) => {
    const key = i.path[0];
    const flag =
      typeof key === 'string' && key in FLAG_OF ? FLAG_OF[key as keyof RunOverrides] : i.path.join('.') || 'overrides';
    return `${flag}: ${i.code === 'unrecognized_keys' ? `cannot be overridden (${(i as { keys?: string[] }).keys?.join(', ')})` : i.message}`;
  });
}

/** The config with validated overrides applied (after schema validation, so defaults are filled in). */
export function applyOverrides(c: SelmixConfig, o: RunOverrides | undefined): SelmixConfig {
  if (!o) return c;
  return {
    ...c,
    ...(o.objective !== undefined ? { objective: o.objective as ObjectiveId } : {}),
    ...(o.output !== undefined ? { output: o.output } : {}),
    training: {
      ...c.training,
      ...(o.steps !== undefined ? { steps: o.steps } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
    selmix: { ...c.selmix, ...(o.temperature !== undefined ? { temperature: o.temperature } : {}) },
  };
}

/** Parses a number flag strictly: plain decimal notation only ("0x10", "1e", "" and "abc" are refused). */
export function parseNumberFlag(flag: string, v: string): number | { error: string } {
  const t = v.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { error: `${flag}: "${v}" is not a number` };
  return Number(t);
}
