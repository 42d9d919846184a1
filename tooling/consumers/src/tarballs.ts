/**
 * Packs every published package (`packages/*` that are not private) with `pnpm pack` — the same packing
 * `changeset publish` does, `workspace:` ranges replaced by versions — and checks what each tarball holds.
 *
 * A tarball may hold only what a user needs at run time and for types: `package.json`, `README.md`, `LICENSE`,
 * `CHANGELOG.md`, `dist/`, the `bin/` files `package.json#bin` names, and subpath stubs (`<dir>/package.json`, for
 * resolvers that ignore `exports`). Refused: tests, sources (`src/`, `.ts` that is not a declaration), `.env`
 * files, tsconfig and build/test configs, `.tsbuildinfo`, and a source map that points at a file it does not embed
 * (`sourcesContent` must hold every source: the maps are kept because they make stack traces and debuggers show
 * the TypeScript, and embedding the sources means no `src/` has to ship), `workspace:` ranges left in
 * `package.json`, and an entry point (`main`, `module`, `types`, `bin`, every `exports` target) that is missing.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** One packed package. */
export interface Tarball {
  name: string;
  version: string;
  /** Absolute path of the `.tgz`. */
  file: string;
  /** Directory of the package in the repository. */
  dir: string;
  packedBytes: number;
  unpackedBytes: number;
  files: Map<string, Buffer>;
}

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  main?: string;
  module?: string;
  types?: string;
  bin?: string | Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The published packages: `packages/*` whose package.json is not private. */
export function publishedPackages(root: string): { name: string; dir: string }[] {
  const base = join(root, 'packages');
  return readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(base, entry.name))
    .flatMap((dir) => {
      let manifest: Manifest;
      try {
        manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
      } catch {
        return [];
      }
      return manifest.private ? [] : [{ name: manifest.name, dir }];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads the entries of a `.tgz` (ustar, as npm and pnpm write it). Paths are relative to `package/`. */
function readTarball(file: string): { files: Map<string, Buffer>; packed: number } {
  const gz = readFileSync(file);
  const tar = gunzipSync(gz);
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number): string =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const name = field(0, 100);
    const prefix = field(345, 155);
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const full = prefix ? `${prefix}/${name}` : name;
    offset += 512;
    if (type === '0' || type === '') {
      files.set(full.replace(/^package\//, ''), Buffer.from(tar.subarray(offset, offset + size)));
    }
    offset += Math.ceil(size / 512) * 512;
  }
  return { files, packed: gz.length };
}

/** Packs `dir` into `destination` with pnpm and returns the tarball's path. */
function pack(dir: string, destination: string): string {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', destination], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const file = out
    .trim()
    .split('\n')
    .map((line) => line.trim())
    .reverse()
    .find((line) => line.endsWith('.tgz'));
  if (!file) throw new Error(`pnpm pack in ${dir} printed no tarball name:\n${out}`);
  return file.startsWith('/') ? file : join(destination, posix.basename(file));
}

/** Packs every published package into `destination`. */
export function packAll(root: string, destination: string): Tarball[] {
  return publishedPackages(root).map(({ dir }) => {
    const file = pack(dir, destination);
    const { files, packed } = readTarball(file);
    const manifestText = files.get('package.json');
    if (!manifestText) throw new Error(`${posix.basename(file)} has no package.json`);
    const manifest = JSON.parse(manifestText.toString('utf8')) as Manifest;
    let unpacked = 0;
    for (const content of files.values()) unpacked += content.length;
    return {
      name: manifest.name,
      version: manifest.version,
      file,
      dir,
      packedBytes: packed,
      unpackedBytes: unpacked,
      files,
    };
  });
}

const ALLOWED_TOP = new Set(['package.json', 'README.md', 'LICENSE', 'LICENSE.md', 'CHANGELOG.md']);
const FORBIDDEN: [RegExp, string][] = [
  [/(^|\/)(test|tests|__tests__|__mocks__|fixtures)\//, 'a test directory'],
  [/\.(test|spec|bench)\.[cm]?[jt]sx?$/, 'a test file'],
  [/(^|\/)src\//, 'a source directory'],
  [/(?<!\.d)\.[cm]?tsx?$/, 'a TypeScript source (not a declaration)'],
  [/(^|\/)\.env(\.|$)/, 'an .env file'],
  [/(^|\/)tsconfig[^/]*\.json$/, 'a tsconfig'],
  [
    /(^|\/)(tsup|vitest|vite|rollup|esbuild|biome|eslint|turbo|jest)\.config\.[^/]*$/,
    'a build or test config',
  ],
  [/(^|\/)biome\.json$/, 'a lint config'],
  [/\.tsbuildinfo$/, 'a TypeScript build cache'],
  [/(^|\/)\.turbo\//, 'a turbo cache'],
  [/(^|\/)node_modules\//, 'node_modules'],
];

/** Every file `exports` points at (strings anywhere in the conditions tree). */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

/** What is wrong with a tarball: one message per violation, naming the file. Empty when it is fine. */
export function checkTarball(tarball: Tarball): string[] {
  const problems: string[] = [];
  const label = posix.basename(tarball.file);
  const manifest = JSON.parse(
    (tarball.files.get('package.json') ?? Buffer.from('{}')).toString('utf8'),
  ) as Manifest;
  const bins = typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin ?? {});
  const binFiles = new Set(bins.map((bin) => posix.normalize(bin)));

  for (const [path, content] of tarball.files) {
    for (const [pattern, what] of FORBIDDEN) {
      if (pattern.test(path)) problems.push(`${label}: ${path} is ${what}; it must not be published`);
    }
    const top = path.split('/')[0] ?? path;
    const isStub = /^[^/]+\/package\.json$/.test(path) && top !== 'dist';
    if (!path.includes('/') ? !ALLOWED_TOP.has(path) : top !== 'dist' && !binFiles.has(path) && !isStub) {
      problems.push(
        `${label}: ${path} is neither in dist/, a bin file, a subpath stub nor one of ${[...ALLOWED_TOP].join(', ')}`,
      );
    }
    if (path.endsWith('.map')) {
      let map: { file?: string; sources?: string[]; sourcesContent?: (string | null)[] };
      try {
        map = JSON.parse(content.toString('utf8'));
      } catch {
        problems.push(`${label}: ${path} is not valid JSON`);
        continue;
      }
      const dir = posix.dirname(path);
      if (map.file && !tarball.files.has(posix.normalize(posix.join(dir, map.file)))) {
        problems.push(`${label}: ${path} maps ${map.file}, which is not in the tarball`);
      }
      (map.sources ?? []).forEach((source, i) => {
        const embedded = typeof map.sourcesContent?.[i] === 'string';
        if (!embedded && !tarball.files.has(posix.normalize(posix.join(dir, source)))) {
          problems.push(
            `${label}: ${path} points at ${source}, which is neither embedded (sourcesContent) nor shipped`,
          );
        }
      });
    }
  }

  const entries = [
    manifest.main,
    manifest.module,
    manifest.types,
    ...bins,
    ...exportTargets(manifest.exports).filter((target) => !target.includes('*')),
  ].filter((entry): entry is string => typeof entry === 'string');
  for (const entry of entries) {
    if (!tarball.files.has(posix.normalize(entry))) {
      problems.push(`${label}: package.json names ${entry}, which is not in the tarball`);
    }
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
      if (range.startsWith('workspace:')) {
        problems.push(`${label}: package.json ${field}.${dep} is still "${range}"`);
      }
    }
  }
  if (!tarball.files.has('LICENSE') && !tarball.files.has('LICENSE.md')) {
    problems.push(`${label}: no LICENSE file (the MIT licence asks for its text to ship with the code)`);
  }
  return problems;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** One line per tarball: name, file count, packed and unpacked size. */
export function describeTarballs(tarballs: Tarball[]): string {
  const width = Math.max(...tarballs.map((t) => t.name.length));
  return tarballs
    .map(
      (t) =>
        `  ${t.name.padEnd(width)}  ${String(t.files.size).padStart(3)} files  ${kib(t.packedBytes).padStart(11)} packed  ${kib(t.unpackedBytes).padStart(11)} unpacked`,
    )
    .join('\n');
}
