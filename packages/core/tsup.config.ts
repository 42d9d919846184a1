import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'host/index': 'src/host/index.ts',
    'metrics/index': 'src/metrics/index.ts',
    'otel/index': 'src/otel/index.ts',
  },
  format: ['esm', 'cjs'],
  // Declarations are for the published package; `pnpm test` builds without them (LEASEHOLD_DECLARATIONS=false).
  dts: process.env.LEASEHOLD_DECLARATIONS !== 'false',
  sourcemap: true,
  clean: true,
  target: 'node20',
  // Shared chunks: the main entry and `/host` use one copy of the client, its errors and its state.
  splitting: true,
  external: [
    'prom-client',
    '@opentelemetry/api',
    '@smithy/signature-v4',
    '@aws-crypto/sha256-js',
    '@aws-sdk/credential-providers',
  ],
});
