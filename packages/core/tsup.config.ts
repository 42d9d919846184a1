import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { libraryConfig } from '../../tooling/tsconfig/tsup.js';

/**
 * tsup's CommonJS code splitting (esbuild's ESM output turned into CommonJS afterwards) leaves the absolute path of
 * the output file in each `.cjs.map` (`file`, and `sources[0]` for the lines the conversion added): a path of the
 * build machine, which then ships in the tarball and points at nothing on a user's disk. Rewrite such paths
 * relative to the map, as every other entry already is (`sources[0]` becomes the `.cjs` file itself, which ships).
 */
async function relativizeSourceMaps(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { recursive: true })) {
    if (!entry.endsWith('.map')) continue;
    const file = join(dir, entry);
    const map = JSON.parse(await readFile(file, 'utf8')) as { file?: string; sources?: string[] };
    const local = (path: string): string => (isAbsolute(path) ? relative(dirname(file), path) : path);
    const fixed = { ...map, file: map.file && local(map.file), sources: map.sources?.map(local) };
    if (JSON.stringify(fixed) !== JSON.stringify(map)) await writeFile(file, JSON.stringify(fixed));
  }
}

export default libraryConfig({
  entry: {
    index: 'src/index.ts',
    'host/index': 'src/host/index.ts',
    'metrics/index': 'src/metrics/index.ts',
    'otel/index': 'src/otel/index.ts',
  },
  // Shared chunks: the main entry and `/host` use one copy of the client, its errors and its state.
  splitting: true,
  onSuccess: () => relativizeSourceMaps('dist'),
  external: [
    'prom-client',
    '@opentelemetry/api',
    '@smithy/signature-v4',
    '@aws-crypto/sha256-js',
    '@aws-sdk/credential-providers',
  ],
});
