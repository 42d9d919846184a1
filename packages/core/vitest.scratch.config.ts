import { defineConfig } from 'vitest/config';
export default defineConfig({
  resolve: { alias: [
      { find: '@leasehold/dev-server', replacement: '/tmp/ds-shim/index.ts' },
      { find: /^(\.\.\/)+backend\.js$/, replacement: '/work/wt/core-client/packages/dev-server/src/backend.ts' } ] },
  test: { include: ['test/integration/**/*.test.ts'], testTimeout: 60000, pool: 'forks' },
});
