// Lint with the import fences between the layers (docs/ARCHITECTURE.md): only src/extension may import vscode;
// src/core and src/protocol touch no file system or workers; webviews import protocol types only.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'node:fs',
  'fs/promises',
  'node:fs/promises',
  'worker_threads',
  'node:worker_threads',
  'child_process',
  'node:child_process',
  'net',
  'node:net',
  'http',
  'node:http',
  'https',
  'node:https',
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'out/**',
      'bench/results/**',
      '*.vsix',
      'test-artifacts/**',
      'selmix-demo/**',
      '.selmix-cache/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    // Prettier (npm run format) lays out the code at 120 columns; comments are held to the same width here. Strings
    // and template literals (messages, table rows) may run longer: breaking them would hide what is printed.
    rules: {
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
    },
  },
  {
    // The CommonJS launcher of the CLI (bin/) may require().
    files: ['bin/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // eslint.config.mjs itself must default-export its config.
    files: ['**/*.ts', 'webview/**', 'scripts/**', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }],
    },
  },
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  ...layerFences(),
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['vscode', ...nodeBuiltins],
          patterns: [
            {
              group: ['../src/*', '!../src/protocol', '../src/!(protocol)/**'],
              message: 'Webviews import protocol types only.',
            },
          ],
        },
      ],
    },
  },
);

/**
 * The layers (docs/ARCHITECTURE.md), bottom up: protocol and formats (pure: typed messages; file codecs and ONNX graph
 * work) <- core (numerics, objectives, training) <- data, backend, request (config text to a typed request) <- report
 * (results pages, tables and charts) <- run <- worker, cli. The extension takes protocol, core, data, request and
 * report only: what the extension host may load (no backend, no run, no training code, no tfjs). Each folder may
 * import only the folders listed for it; no adapter (worker, cli, extension) imports another.
 */
function layerFences() {
  const allowed = {
    protocol: [],
    formats: [],
    core: ['protocol'],
    data: ['protocol', 'core', 'formats'],
    backend: ['protocol', 'core', 'formats'],
    request: ['protocol', 'core'],
    report: ['protocol', 'core', 'data'],
    run: ['protocol', 'core', 'formats', 'data', 'backend', 'request', 'report'],
    worker: ['protocol', 'core', 'formats', 'data', 'backend', 'request', 'report', 'run'],
    cli: ['protocol', 'core', 'formats', 'data', 'backend', 'request', 'report', 'run'],
    extension: ['protocol', 'core', 'data', 'request', 'report'],
  };
  // Folders the extension host loads: no training code (src/core/training) and no tfjs, directly or through them.
  const hostSafe = new Set(['extension', 'request', 'report']);
  const folders = Object.keys(allowed);
  return folders.map((folder) => {
    const banned = folders.filter((f) => f !== folder && !allowed[folder].includes(f));
    const paths = [
      ...(folder === 'extension' ? [] : [{ name: 'vscode', message: 'Only src/extension may import vscode.' }]),
      ...(hostSafe.has(folder)
        ? [{ name: '@tensorflow/tfjs', message: `src/${folder} is loaded by the extension host: no tfjs.` }]
        : []),
      ...(folder === 'core' || folder === 'protocol' || folder === 'formats'
        ? nodeBuiltins.map((name) => ({ name, message: `src/${folder} is pure: no file system, network or workers.` }))
        : []),
    ];
    return {
      files: [`src/${folder}/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths,
            patterns: [
              ...(banned.length
                ? [
                    {
                      group: banned.flatMap((b) => [`../${b}/*`, `../../${b}/*`, `../../../${b}/*`]),
                      message: `src/${folder} may import only ${allowed[folder].length ? allowed[folder].map((f) => `src/${f}`).join(', ') : 'nothing outside itself'} (docs/ARCHITECTURE.md).`,
                    },
                  ]
                : []),
              ...(hostSafe.has(folder)
                ? [
                    {
                      group: ['../core/training/*', '../../core/training/*', '@tensorflow/*'],
                      message: `src/${folder} is loaded by the extension host: no training code (src/core/training) and no tfjs.`,
                    },
                  ]
                : []),
            ],
          },
        ],
      },
    };
  });
}
