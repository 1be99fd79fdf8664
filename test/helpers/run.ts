// Runs config text (or a config object, serialised) through src/run/run.ts runRequest, as every surface does.
import { runRequest, type RunOptions, type RunResult } from '../../src/run/run';
import type { RunOverrides } from '../../src/protocol/messages';

/** Options of runConfig: the run's own, plus the request's resume flag and overrides. */
export type RunConfigOptions = RunOptions & { resume?: boolean; overrides?: RunOverrides };

/** One request from config text (or an object, written as JSON) at configPath. */
export function runConfig(config: string | object, configPath: string, opts: RunConfigOptions): Promise<RunResult> {
  const { resume, overrides, ...run } = opts;
  const configText = typeof config === 'string' ? config : JSON.stringify(config, null, 2);
  return runRequest(
    { configText, configPath, ...(resume ? { resume } : {}), ...(overrides ? { overrides } : {}) },
    run,
  );
}
