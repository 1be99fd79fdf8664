// No import cycles in the source, type-only imports included: every module of src/ and webview/ is read, its
// relative imports (import, import type, export ... from, import('...')) resolved to files, and a depth-first
// search reports the first cycle it meets as a chain of files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const FOLDERS = ['src', 'webview'];

/** Every .ts file under dir (recursively). */
function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /^\s*import\s+['"]([^'"]+)['"]/gm,
];

/** The relative import specifiers of a module's text, comments removed. */
export function importSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const re of SPECIFIERS) for (const m of code.matchAll(re)) if (m[1]!.startsWith('.')) out.push(m[1]!);
  return out;
}

/** The file a relative specifier names (x, x.ts, x.js written for x.ts, x/index.ts), or null. */
function resolveSpecifier(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const c of [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')]) {
    if (c.endsWith('.ts') && existsSync(c) && statSync(c).isFile()) return c;
  }
  return null;
}

/** The first cycle of a graph found by depth-first search, as a closed chain of nodes, or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of [...graph.keys()].sort()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

test('findCycle finds a cycle, including a self-import, and none in a DAG', () => {
  assert.deepEqual(
    findCycle(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
      ]),
    ),
    ['a', 'b', 'c', 'a'],
  );
  assert.deepEqual(findCycle(new Map([['a', ['a']]])), ['a', 'a']);
  assert.equal(
    findCycle(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
    null,
  );
  assert.deepEqual(
    importSpecifiers(
      "import type { A } from './a';\nimport {\n  b,\n} from \"../b\";\nexport { c } from './c';\n// import { d } from './d';\nconst e = import('./e');\nimport 'zod';",
    ),
    ['./a', '../b', './c', './e'],
  );
});

test('no import cycles in src/ and webview/ (type-only imports included)', () => {
  const graph = new Map<string, string[]>();
  for (const f of FOLDERS.flatMap((d) => tsFiles(join(ROOT, d)))) {
    const deps = importSpecifiers(readFileSync(f, 'utf8'))
      .map((s) => resolveSpecifier(f, s))
      .filter((p): p is string => p !== null);
    graph.set(relative(ROOT, f), [...new Set(deps.map((p) => relative(ROOT, p)))]);
  }
  assert.ok(graph.size > 20, `found only ${graph.size} modules under ${FOLDERS.join(', ')}`);
  const cycle = findCycle(graph);
  assert.equal(cycle, null, cycle ? `import cycle: ${cycle.join(' -> ')}` : '');
});
