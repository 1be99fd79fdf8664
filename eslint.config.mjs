// Lint with the import fences between folders (STYLE.md): only src/extension may import vscode;
// src/core touches no file system, DOM or workers; webviews import protocol types only.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'worker_threads', 'node:worker_threads',
  'child_process', 'node:child_process', 'net', 'node:net', 'http', 'node:http', 'https', 'node:https'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', 'bench/results/**', '*.vsix', 'test-artifacts/**', 'selmix-demo/**', '.selmix-cache/**'] },
  ...tseslint.configs.recommended,
  {
    // The CommonJS launcher of the CLI (bin/) may require().
    files: ['bin/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // eslint.config.mjs itself must default-export its config.
    files: ['**/*.ts', 'webview/**', 'scripts/**', 'test/**', 'bench/**'],
    rules: { 'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }] },
  },
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/**/*.ts', 'webview/**/*.ts'],
    ignores: ['src/extension/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/extension may import vscode.' }] }] },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['vscode', ...nodeBuiltins].map((name) => ({ name, message: 'src/core is pure: no vscode, file system, network or workers.' })),
        patterns: [{ group: ['../data/*', '../extension/*', '../worker/*', '../cli/*', '../backend/*'], message: 'src/core depends on nothing but itself and protocol.' }],
      }],
    },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: ['vscode', ...nodeBuiltins], patterns: [{ group: ['../*', '!../protocol/*'], message: 'protocol imports nothing.' }] }] },
  },
  {
    files: ['webview/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: ['vscode', ...nodeBuiltins], patterns: [{ group: ['../src/*', '!../src/protocol', '../src/!(protocol)/**'], message: 'Webviews import protocol types only.' }] }] },
  },
);
