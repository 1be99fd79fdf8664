// The run request of a config as the editor holds it (saved or not, so what runs is what the diagnostics
// show): the file's own text, its path, and selmix.outputFolder as the output override when the file names no
// "output" (docs/ARCHITECTURE.md, "One request"). Pure: no vscode import, unit-tested.
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import type { RunOverrides, RunRequest } from '../protocol/messages';

/** True when the config text has a top-level "output" (of any type: a wrong one is the schema's to report). */
export function hasOutputField(text: string): boolean {
  try {
    const tree = parseTree(text, [], { disallowComments: true });
    return tree?.type === 'object' && findNodeAtLocation(tree, ['output']) !== undefined;
  } catch {
    // Text nested too deep for the recursive parser: prepareRun reports it at its line; no output field is assumed.
    return false;
  }
}

/**
 * The request of a config file's text; defaultOutput (absolute) becomes overrides.output when the text names no output.
 */
export function configRequestOf(
  file: string,
  text: string,
  defaultOutput: string,
  overrides: RunOverrides = {},
): RunRequest {
  const o: RunOverrides =
    hasOutputField(text) || overrides.output !== undefined ? { ...overrides } : { ...overrides, output: defaultOutput };
  return { configText: text, configPath: file, ...(Object.keys(o).length > 0 ? { overrides: o } : {}) };
}
