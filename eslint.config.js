import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first. A folder may import from folders before it in this list, never
 * from one after it; docs/architecture.md explains each layer.
 */
const LAYERS = [
  'util',
  'oci',
  'registry',
  'transfer',
  'config',
  'push',
  'diagnose',
  'report',
  'action',
  'cli',
];

/** For each layer: its own files may not import any folder above it. */
const layerRules = LAYERS.map((layer, i) => ({
  files: [`src/${layer}/**`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths:
          layer === 'action'
            ? []
            : [
                {
                  name: '@actions/core',
                  message: 'Only src/action/ talks to the runner; report through the Logger.',
                },
              ],
        patterns: LAYERS.slice(i + 1).map((above) => ({
          group: [`../${above}/*`, `../../${above}/*`],
          message: `src/${layer}/ is below src/${above}/ and may not import it (see docs/architecture.md).`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...layerRules,
  {
    // The entry points: the runner's and the CLI's. Nothing imports them.
    files: ['src/index.ts', 'src/cli.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['./*/*', '!./action/*', '!./cli/*', '!./util/*'],
              message: 'An entry point only starts a shell.',
            },
          ],
        },
      ],
    },
  },
  {
    // Only the shells read the process's own arguments.
    files: ['src/**'],
    ignores: ['src/cli/**', 'src/cli.ts', 'src/action/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'argv', message: 'Only src/cli/ reads process.argv.' },
      ],
    },
  },
);
