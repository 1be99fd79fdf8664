import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '../../../src/core/errors';
import { readFeatureCsv } from '../../../src/data/csv';

function withCsv(text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'selmix-csv-'));
  try {
    const p = join(dir, 'f.csv');
    writeFileSync(p, text);
    fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function throwsData(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('header row, label column by name, CRLF, BOM, quotes and a trailing blank line', () =>
  withCsv('\ufeffa,"b",label,c\r\n1,2.5,0,-3\r\n"4",5e-1,2,6\r\n\r\n', (p) => {
    const r = readFeatureCsv(p, { labelColumn: 'label' });
    assert.equal(r.n, 2);
    assert.equal(r.d, 3);
    assert.deepEqual(Array.from(r.x), [1, 2.5, -3, 4, 0.5, 6]);
    assert.deepEqual(Array.from(r.y!), [0, 2]);
  }));

test('no header: every row is data; label column by index (negative counts from the end); no label gives y null', () =>
  withCsv('0,1.5,3\n2,3,1\n', (p) => {
    const r = readFeatureCsv(p, { labelColumn: -1 });
    assert.deepEqual([r.n, r.d], [2, 2]);
    assert.deepEqual(Array.from(r.x), [0, 1.5, 2, 3]);
    assert.deepEqual(Array.from(r.y!), [3, 1]);
    const first = readFeatureCsv(p, { labelColumn: 0 });
    assert.deepEqual(Array.from(first.x), [1.5, 3, 3, 1]);
    assert.deepEqual(Array.from(first.y!), [0, 2]);
    const all = readFeatureCsv(p, {});
    assert.equal(all.y, null);
    assert.equal(all.d, 3);
  }));

test('a non-numeric cell names its line and column', () =>
  withCsv('x,y\n1,2\n3,abc\n', (p) => {
    throwsData(() => readFeatureCsv(p, {}), /f\.csv: line 3, column 2 \("y"\): "abc" is not a finite number$/);
  }));

test('ragged rows, bad labels, unknown label column, float32 overflow, empty files are DataErrors with the line', () => {
  withCsv('1,2\n3\n', (p) => throwsData(() => readFeatureCsv(p, {}), /line 2: 1 columns, expected 2/));
  withCsv('a,y\n1,2\n3,1.5\n', (p) =>
    throwsData(
      () => readFeatureCsv(p, { labelColumn: 'y' }),
      /line 3, column 2 \("y"\): label "1\.5" is not a non-negative integer/,
    ),
  );
  withCsv('a,y\n1,-1\n', (p) =>
    throwsData(() => readFeatureCsv(p, { labelColumn: 1 }), /line 2, column 2 \("y"\): label "-1"/),
  );
  withCsv('a,y\n1,2\n', (p) =>
    throwsData(() => readFeatureCsv(p, { labelColumn: 'z' }), /line 1: no column named "z" in the header \(a, y\)/),
  );
  withCsv('1,2\n', (p) =>
    throwsData(() => readFeatureCsv(p, { labelColumn: 'y' }), /is a name, but the CSV file has no header row/),
  );
  withCsv('1,2\n', (p) =>
    throwsData(() => readFeatureCsv(p, { labelColumn: 5 }), /labelColumn 5 is outside the 2 columns/),
  );
  withCsv('1,1e39\n', (p) =>
    throwsData(() => readFeatureCsv(p, {}), /line 1, column 2: 1e39 is outside the float32 range/),
  );
  withCsv('1,NaN\n', (p) => throwsData(() => readFeatureCsv(p, {}), /line 1, column 2: "NaN" is not a finite number/));
  withCsv('a,b\n1,\n', (p) =>
    throwsData(() => readFeatureCsv(p, {}), /line 2, column 2 \("b"\): "" is not a finite number/),
  );
  withCsv('id,0,1\n', (p) => throwsData(() => readFeatureCsv(p, {}), /line 1, column 1: "id" is not a finite number/));
  withCsv('\n\n', (p) => throwsData(() => readFeatureCsv(p, {}), /the CSV file is empty/));
  withCsv('a,b\n', (p) => throwsData(() => readFeatureCsv(p, {}), /has a header but no data rows/));
  withCsv('"1,2\n', (p) => throwsData(() => readFeatureCsv(p, {}), /line 1: unterminated quoted field/));
  throwsData(() => readFeatureCsv('/nonexistent/x.csv', {}), /^\/nonexistent\/x\.csv: cannot read file/);
});
