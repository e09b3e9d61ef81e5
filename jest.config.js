// Three projects: unit (pure logic, fakes), integration (real PostgreSQL, Redis, NATS, QEMU),
// e2e (a whole all-in-one cloud driven through its public API).
const swc = ['@swc/jest', {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
}];
const moduleNameMapper = {
  '^@nubo/(contracts|messaging|qmp|database|config|jobs|testing|health|client|netlinks)$': '<rootDir>/libs/$1/src',
};
const common = { transform: { '^.+\\.ts$': swc }, moduleNameMapper, testEnvironment: 'node', rootDir: __dirname };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/support/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs,test}/**/*.int-spec.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/timeout-60s.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'], setupFilesAfterEnv: ['<rootDir>/test/support/timeout-180s.ts', '<rootDir>/test/support/e2e-server-leaks.ts'],
      globalSetup: '<rootDir>/test/support/e2e-global-setup.ts', globalTeardown: '<rootDir>/test/support/e2e-global-teardown.ts' },
  ],
};
