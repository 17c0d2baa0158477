import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // Engine code reports through the Logger interface so the CLI and tests can drive it.
    files: [
      'src/oci/**',
      'src/registry/**',
      'src/upload/**',
      'src/push/**',
      'src/report/**',
      'src/diagnose/**',
    ],
    rules: {
      'no-restricted-imports': ['error', { paths: ['@actions/core'] }],
    },
  },
);
