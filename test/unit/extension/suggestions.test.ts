import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/core/config';
import { ConfigError } from '../../../src/core/errors';
import {
  closest,
  didYouMean,
  enumSuggestion,
  issueText,
  reportedByJsonSchema,
  withSuggestion,
} from '../../../src/extension/suggestions';
import type { RunIssue } from '../../../src/request/prepare';

const issue = (message: string): RunIssue => ({
  path: '',
  message,
  severity: 'error',
  source: 'schema',
  line: 1,
  column: 1,
  endLine: 1,
  endColumn: 2,
});

test("what refuses a run is SelMix's own error, except a syntax error VS Code's JSON language already reports as one", () => {
  assert.equal(reportedByJsonSchema(issue('invalid JSON: a comma is expected')), true);
  assert.equal(
    reportedByJsonSchema(
      issue('invalid JSON: a property name in double quotes is expected (is there a trailing comma?)'),
    ),
    false,
  );
  for (const m of [
    'Invalid option: expected one of "a"|"b"',
    'Invalid input: expected number, received string',
    'Unrecognized key: "traning"',
    'Too small: expected number to be >0',
  ]) {
    assert.equal(reportedByJsonSchema(issue(m)), false, m);
  }
});

test('a trailing comma is one problem at one place, not two', () => {
  try {
    parseConfig('{\n  "objective": "minRecall", // the target\n  "output": "out",\n}\n', 'x.selmix.json');
    assert.fail('refused');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues.length, 1);
    assert.match(e.issues[0]!.message, /trailing comma/);
  }
});

test("did you mean: unknown keys and enum values, from the field's own text", () => {
  assert.equal(didYouMean('traning'), 'training');
  assert.equal(closest('minRecal', ['minRecall', 'meanRecall']), 'minRecall');
  assert.equal(closest('zzz', ['minRecall']), null);
  const text = '{\n  "objective": "minRecal",\n  "training": { "schedule": "cosin" }\n}\n';
  try {
    parseConfig(text, 'x.selmix.json');
    assert.fail('refused');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const msgs = e.issues.map((i) =>
      withSuggestion(
        i.message,
        issueText(text, {
          line: i.line!,
          column: i.column!,
          endLine: i.endLine ?? i.line!,
          endColumn: i.endColumn ?? i.column! + 1,
        }),
      ),
    );
    assert.ok(
      msgs.some((m) => m.endsWith('did you mean "minRecall"?')),
      msgs.join('\n'),
    );
    assert.ok(
      msgs.some((m) => m.endsWith('did you mean "cosine"?')),
      msgs.join('\n'),
    );
  }
  assert.equal(enumSuggestion('Invalid option: expected one of "a"|"bb"', '"x": 5'), null, 'not a string value');
  assert.equal(issueText('ab\ncdef\ng', { line: 2, column: 2, endLine: 2, endColumn: 4 }), 'de');
  assert.equal(issueText('ab\ncdef\ng', { line: 1, column: 2, endLine: 3, endColumn: 2 }), 'b\ncdef\ng');
});
