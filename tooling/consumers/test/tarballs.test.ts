import { describe, expect, it } from 'vitest';
import { checkTarball, type Tarball } from '../src/tarballs.js';

const manifest = {
  name: '@leasehold/example',
  version: '1.0.0',
  main: './dist/index.cjs',
  types: './dist/index.d.cts',
  bin: { example: './bin/example.js' },
  exports: {
    '.': {
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './package.json': './package.json',
  },
  dependencies: { '@leasehold/core': '1.0.0' },
};

const map = (source: Record<string, unknown>): string =>
  JSON.stringify({ version: 3, file: 'index.js', mappings: 'AAAA', names: [], ...source });

function tarball(files: Record<string, string>, manifestOverride: Record<string, unknown> = {}): Tarball {
  const all = new Map<string, Buffer>();
  all.set('package.json', Buffer.from(JSON.stringify({ ...manifest, ...manifestOverride })));
  for (const [path, text] of Object.entries(files)) all.set(path, Buffer.from(text));
  return {
    name: '@leasehold/example',
    version: '1.0.0',
    file: 'leasehold-example-1.0.0.tgz',
    dir: 'packages/example',
    packedBytes: 0,
    unpackedBytes: 0,
    files: all,
  };
}

const clean = {
  'README.md': '# example',
  LICENSE: 'MIT',
  'bin/example.js': 'import "../dist/index.js";',
  'dist/index.js': 'export {};',
  'dist/index.cjs': '',
  'dist/index.d.ts': 'export {};',
  'dist/index.d.cts': 'export {};',
  'dist/index.js.map': map({ sources: ['../src/index.ts'], sourcesContent: ['export {};'] }),
  'sub/package.json': '{"main":"../dist/index.cjs"}',
};

describe('checkTarball', () => {
  it('accepts dist/, bin files, subpath stubs, README, LICENSE, and maps that embed their sources', () => {
    expect(checkTarball(tarball(clean))).toEqual([]);
  });

  it('names every file that must not be published', () => {
    const problems = checkTarball(
      tarball({
        ...clean,
        'src/index.ts': '',
        'dist/index.test.js': '',
        'test/helpers.js': '',
        '.env': 'SECRET=1',
        'tsconfig.json': '{}',
        'tsup.config.ts': '',
        'dist/tsconfig.tsbuildinfo': '',
        'notes.txt': '',
      }),
    );
    expect(problems).toEqual([
      'leasehold-example-1.0.0.tgz: src/index.ts is a source directory; it must not be published',
      'leasehold-example-1.0.0.tgz: src/index.ts is a TypeScript source (not a declaration); it must not be published',
      'leasehold-example-1.0.0.tgz: src/index.ts is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
      'leasehold-example-1.0.0.tgz: dist/index.test.js is a test file; it must not be published',
      'leasehold-example-1.0.0.tgz: test/helpers.js is a test directory; it must not be published',
      'leasehold-example-1.0.0.tgz: test/helpers.js is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
      'leasehold-example-1.0.0.tgz: .env is an .env file; it must not be published',
      'leasehold-example-1.0.0.tgz: .env is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
      'leasehold-example-1.0.0.tgz: tsconfig.json is a tsconfig; it must not be published',
      'leasehold-example-1.0.0.tgz: tsconfig.json is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
      'leasehold-example-1.0.0.tgz: tsup.config.ts is a TypeScript source (not a declaration); it must not be published',
      'leasehold-example-1.0.0.tgz: tsup.config.ts is a build or test config; it must not be published',
      'leasehold-example-1.0.0.tgz: tsup.config.ts is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
      'leasehold-example-1.0.0.tgz: dist/tsconfig.tsbuildinfo is a TypeScript build cache; it must not be published',
      'leasehold-example-1.0.0.tgz: notes.txt is neither in dist/, a bin file, a subpath stub nor one of package.json, README.md, LICENSE, LICENSE.md, CHANGELOG.md',
    ]);
  });

  it('names a source map whose sources are neither embedded nor shipped, and one whose file is missing', () => {
    const problems = checkTarball(
      tarball({
        ...clean,
        'dist/index.cjs.map': map({
          file: '/build/packages/example/dist/index.cjs',
          sources: ['/build/packages/example/dist/index.cjs', '../src/index.ts', 'index.cjs'],
          sourcesContent: [null, 'export {};', null],
        }),
      }),
    );
    expect(problems).toEqual([
      'leasehold-example-1.0.0.tgz: dist/index.cjs.map maps /build/packages/example/dist/index.cjs, which is not in the tarball',
      'leasehold-example-1.0.0.tgz: dist/index.cjs.map points at /build/packages/example/dist/index.cjs, which is neither embedded (sourcesContent) nor shipped',
    ]);
  });

  it('names a missing entry point, a workspace: range left in package.json, and a missing LICENSE', () => {
    const { LICENSE: _license, 'dist/index.cjs': _cjs, ...rest } = clean;
    const problems = checkTarball(tarball(rest, { peerDependencies: { '@leasehold/pg': 'workspace:^' } }));
    expect(problems).toEqual([
      'leasehold-example-1.0.0.tgz: package.json names ./dist/index.cjs, which is not in the tarball',
      'leasehold-example-1.0.0.tgz: package.json names ./dist/index.cjs, which is not in the tarball',
      'leasehold-example-1.0.0.tgz: package.json peerDependencies.@leasehold/pg is still "workspace:^"',
      'leasehold-example-1.0.0.tgz: no LICENSE file (the MIT licence asks for its text to ship with the code)',
    ]);
  });
});
