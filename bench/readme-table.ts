// Prints docs/PERFORMANCE.md (markdown: its Performance sections) from bench/results/bench.json (`npm run bench`
// first).
// Usage: node --import tsx bench/readme-table.ts [path/to/bench.json]
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BenchReport } from './run';
import { renderReport } from './report';

const path = resolve(process.argv[2] ?? join('bench', 'results', 'bench.json'));
if (!existsSync(path)) {
  process.stderr.write(`no ${path}: run \`npm run bench\` first\n`);
  process.exit(2);
}
const report = JSON.parse(readFileSync(path, 'utf8')) as BenchReport;
process.stdout.write(renderReport(report, { title: '# Performance', readme: true }));
