// Reader for numeric feature tables in CSV (comma-separated, RFC 4180 quotes, optional header row).
import { DataError } from '../core/errors';
import { readInputFile } from './inputFile';

/** Options of readFeatureCsv. labelColumn: a header name, or a 0-based column index (negative counts from the end). */
export interface FeatureCsvOptions {
  labelColumn?: string | number;
}

/** Features [n, d] as float32 and, when a label column is named, the labels as non-negative integers. */
export interface FeatureCsv {
  x: Float32Array;
  n: number;
  d: number;
  y: Int32Array | null;
}

interface Row {
  line: number;
  cells: string[];
}

/** Splits CSV text into rows of cells, keeping each row's 1-based line number. */
function parseRows(text: string, file: string): Row[] {
  const rows: Row[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quoted = false;
  const endRow = (): void => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0]!.trim() === '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
      i++;
      continue;
    }
    if (c === ',') {
      cells.push(cell);
      cell = '';
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      rowLine = line;
      continue;
    }
    cell += c;
    i++;
  }
  if (quoted) throw new DataError(file, `line ${rowLine}: unterminated quoted field`);
  endRow();
  return rows;
}

function isNumber(s: string): boolean {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t));
}

/** Reads a numeric CSV (header row optional) into float32 features and optional integer labels. */
export function readFeatureCsv(path: string, opts: FeatureCsvOptions): FeatureCsv {
  let text = readInputFile(path).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows = parseRows(text, path);
  if (rows.length === 0) throw new DataError(path, 'the CSV file is empty');
  const width = rows[0]!.cells.length;
  // The first row is a header when none of its cells is a number (a data row with one bad cell is then
  // reported as such instead of being taken for a header).
  const header = rows[0]!.cells.every((c) => !isNumber(c)) ? rows[0]!.cells.map((c) => c.trim()) : null;
  const body = header ? rows.slice(1) : rows;
  if (body.length === 0) throw new DataError(path, 'the CSV file has a header but no data rows');
  const colName = (j: number): string => `column ${j + 1}${header ? ` ("${header[j]}")` : ''}`;

  let labelCol = -1;
  if (opts.labelColumn !== undefined) {
    if (typeof opts.labelColumn === 'string') {
      if (!header)
        throw new DataError(path, `labelColumn "${opts.labelColumn}" is a name, but the CSV file has no header row`);
      labelCol = header.indexOf(opts.labelColumn);
      if (labelCol < 0)
        throw new DataError(
          path,
          `line ${rows[0]!.line}: no column named "${opts.labelColumn}" in the header (${header.join(', ')})`,
        );
    } else {
      labelCol = opts.labelColumn < 0 ? width + opts.labelColumn : opts.labelColumn;
      if (!Number.isInteger(opts.labelColumn) || labelCol < 0 || labelCol >= width) {
        throw new DataError(path, `labelColumn ${opts.labelColumn} is outside the ${width} columns`);
      }
    }
  }
  const d = labelCol >= 0 ? width - 1 : width;
  if (d === 0) throw new DataError(path, 'the CSV file has no feature columns');
  const n = body.length;
  const x = new Float32Array(n * d);
  const y = labelCol >= 0 ? new Int32Array(n) : null;
  body.forEach((row, r) => {
    if (row.cells.length !== width) {
      throw new DataError(
        path,
        `line ${row.line}: ${row.cells.length} columns, expected ${width} (as on line ${rows[0]!.line})`,
      );
    }
    let f = 0;
    row.cells.forEach((cell, j) => {
      const v = Number(cell.trim());
      if (!isNumber(cell)) {
        throw new DataError(path, `line ${row.line}, ${colName(j)}: ${JSON.stringify(cell)} is not a finite number`);
      }
      if (j === labelCol) {
        if (!Number.isInteger(v) || v < 0 || v > 2147483647) {
          throw new DataError(
            path,
            `line ${row.line}, ${colName(j)}: label ${JSON.stringify(cell)} is not a non-negative integer class id`,
          );
        }
        y![r] = v;
      } else {
        x[r * d + f] = v;
        if (!Number.isFinite(x[r * d + f]!))
          throw new DataError(path, `line ${row.line}, ${colName(j)}: ${cell.trim()} is outside the float32 range`);
        f++;
      }
    });
  });
  return { x, n, d, y };
}
