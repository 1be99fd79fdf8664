// "Did you mean": the config field or option a typo was meant to be, for the diagnostics and their quick fixes, and
// which issues VS Code's JSON language already reports. Pure (no vscode import): unit-tested under plain Node.
import { configJsonSchema } from '../core/config';
import type { RunIssue } from '../request/prepare';

/** Every property name the config schema knows (for "did you mean"). */
let schemaKeys: string[] | null = null;
function knownKeys(): string[] {
  if (schemaKeys) return schemaKeys;
  const keys = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.properties === 'object' && o.properties !== null)
      for (const k of Object.keys(o.properties)) keys.add(k);
    Object.values(o).forEach(walk);
  };
  walk(configJsonSchema());
  keys.delete('$schema');
  return (schemaKeys = [...keys]);
}

/** Edit distance (Levenshtein) of two short strings. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** The candidate closest to word (case-insensitive edit distance), when it is close enough to be a typo; else null. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of candidates) {
    const dist = distance(word.toLowerCase(), k.toLowerCase());
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  return best !== null && best !== word && bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}

/** The known field an unknown key was probably meant to be ("traning" -> "training"), or null. */
export function didYouMean(key: string): string | null {
  return closest(key, knownKeys());
}

/** The string value of a "key": "value" (or "value") text, or null. */
export function stringValueOf(text: string): string | null {
  return /:\s*"([^"\\]*)"\s*$/.exec(text)?.[1] ?? /^\s*"([^"\\]*)"\s*$/.exec(text)?.[1] ?? null;
}

/**
 * For an enum issue ('Invalid option: expected one of "a"|"b"') on the text of its field, the option the value was
 * meant to be.
 */
export function enumSuggestion(message: string, fieldText: string): string | null {
  const list = /expected one of ((?:"[^"]*"\|?)+)/.exec(message)?.[1];
  const value = stringValueOf(fieldText);
  if (!list || value === null) return null;
  return closest(
    value,
    [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1]!),
  );
}

/** The unknown key of an issue, from zod's 'Unrecognized key: "x"' or VS Code's 'Property x is not allowed.'. */
export function unknownKeyOf(message: string): string | null {
  return (
    /Unrecognized keys?: "([^"]+)"/.exec(message)?.[1] ?? /Property (\S+) is not allowed/.exec(message)?.[1] ?? null
  );
}

/**
 * An issue's message with "did you mean" added to an unknown key, or to an enum value (given the text of its field).
 */
export function withSuggestion(message: string, fieldText = ''): string {
  const key = unknownKeyOf(message);
  const s = key ? didYouMean(key) : enumSuggestion(message, fieldText);
  return s ? `${message}; did you mean "${s}"?` : message;
}

/** The text of an issue's range in the config text (1-based lines and columns, end exclusive). */
export function issueText(text: string, i: Pick<RunIssue, 'line' | 'column' | 'endLine' | 'endColumn'>): string {
  const lines = text.split('\n');
  if (i.endLine === i.line) return (lines[i.line - 1] ?? '').slice(i.column - 1, i.endColumn - 1);
  return [
    (lines[i.line - 1] ?? '').slice(i.column - 1),
    ...lines.slice(i.line, i.endLine - 1),
    (lines[i.endLine - 1] ?? '').slice(0, i.endColumn - 1),
  ].join('\n');
}

/**
 * True for an issue that VS Code's JSON language already reports as an error: a syntax error other than a trailing
 * comma (which it only warns about in JSON with comments, while SelMix refuses it). Those are left to it, so each shows
 * once. Every other issue that refuses a run is SelMix's own error, even where the JSON language also flags it from the
 * schema (it does so as a warning, which would not say that the run is refused).
 */
export function reportedByJsonSchema(i: RunIssue): boolean {
  return i.source === 'schema' && /^invalid JSON/.test(i.message) && !/trailing comma/.test(i.message);
}
