// `make lint`: typescript-eslint with type information (floating promises and misused promises
// are the bugs an event-driven agent actually has), over the TypeScript of src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'addon/build/', 'node_modules/', 'bench/results/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig.json nearest to it: src/ with the build's,
        // test/ with test/tsconfig.json (which includes src/ too).
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Bugs rather than taste: a switch over a union that forgets a member, `return promise`
      // inside try (its rejection skips the catch), == with coercion.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      eqeqeq: ['error', 'smart'],
      // `_name` marks a parameter kept for its position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Fakes and handlers implement Promise-returning interfaces: async keeps a throw a rejection,
      // as in the real implementation, even where the body has nothing to wait for.
      '@typescript-eslint/require-await': 'off',
      // The tests of escaping look for raw control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // These tests walk parsed YAML/JSON (manifests, provisioning files) and assert on its shape:
    // typing every document first would restate what the assertions check.
    files: ['test/deploy/**/*.ts', 'test/dashboards/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
