/**
 * The temporary consumer projects: each is one `npm install` of the packed tarballs plus the frameworks of one
 * version line, shared by several programs (one sub-directory per program, with its own `package.json#type` and
 * `tsconfig.json`), so the tier needs three installs in all.
 */

/** A program run inside a project. */
export interface Program {
  /** Name in the report, e.g. `ts-node16`. */
  name: string;
  /** Sub-directory of the project. */
  dir: string;
  /** `module` (ESM) or `commonjs` for the sub-directory's package.json. */
  type: 'module' | 'commonjs';
  /** Fixture files copied in (relative to `fixtures/`) → name inside `dir`. */
  files: Record<string, string>;
  /** tsconfig.json for TypeScript programs (compiled by the project's own tsc before they run). */
  tsconfig?: Record<string, unknown>;
  /** The file Node runs, relative to `dir` (the compiled one for TypeScript). */
  entry: string;
  /** Run it with Node 22 from the registry's `node` package (`npx -p node@22`) instead of this Node. */
  node22?: boolean;
  /** Run `prisma generate` (the project's Prisma CLI) on `schema.prisma` in `dir` before compiling. */
  prismaGenerate?: boolean;
}

/** One temporary project: the packages it installs and the programs that share its node_modules. */
export interface Project {
  name: string;
  /** Which packed @leasehold packages it installs (by package name). */
  tarballs: string[];
  /** Registry dependencies (name → range). */
  dependencies: Record<string, string>;
  programs: Program[];
}

/** Strict compiler settings every TypeScript consumer uses on top of its module settings. */
const strict = {
  strict: true,
  skipLibCheck: false,
  noEmitOnError: true,
  target: 'ES2022',
  types: ['node'],
  outDir: 'dist',
  rootDir: '.',
};

const tsProgram = (name: string, type: Program['type'], module: Record<string, unknown>): Program => ({
  name,
  dir: name,
  type,
  files: { 'ts/main.ts': 'main.ts' },
  tsconfig: { compilerOptions: { ...strict, ...module }, include: ['main.ts'] },
  entry: 'dist/main.js',
});

/** `nest new`'s compiler settings (CommonJS, decorators with metadata), with strict on and skipLibCheck off. */
const nestTsconfig = {
  compilerOptions: {
    module: 'commonjs',
    declaration: true,
    removeComments: true,
    emitDecoratorMetadata: true,
    experimentalDecorators: true,
    allowSyntheticDefaultImports: true,
    target: 'ES2021',
    sourceMap: true,
    outDir: 'dist',
    rootDir: '.',
    strict: true,
    skipLibCheck: false,
    noEmitOnError: true,
    types: ['node'],
  },
  include: ['main.ts'],
};

const nestProgram = (name: string): Program => ({
  name,
  dir: name,
  type: 'commonjs',
  files: { 'nestjs/main.ts': 'main.ts' },
  tsconfig: nestTsconfig,
  entry: 'dist/main.js',
});

const expressProgram = (name: string): Program => ({
  name,
  dir: name,
  type: 'commonjs',
  files: { 'js/express.cjs': 'main.cjs' },
  entry: 'main.cjs',
});

/** TypeScript and @types/node every project compiles with (the repository's TypeScript line). */
const typescript = { typescript: '~5.9.3', '@types/node': '^20.19.0', '@types/pg': '^8.15.0' };
const nest = (major: number) => ({
  '@nestjs/common': `^${major}.0.0`,
  '@nestjs/core': `^${major}.0.0`,
  '@nestjs/platform-express': `^${major}.0.0`,
  'reflect-metadata': '^0.2.2',
  rxjs: '^7.8.0',
});

export const PROJECTS: Project[] = [
  {
    name: 'current',
    tarballs: [
      '@leasehold/core',
      '@leasehold/pg',
      '@leasehold/knex',
      '@leasehold/dev-server',
      '@leasehold/express',
      '@leasehold/fastify',
      '@leasehold/nestjs',
      '@leasehold/aws',
      '@leasehold/doppler',
    ],
    dependencies: {
      pg: '^8.16.0',
      knex: '^3.3.0',
      express: '^5.0.0',
      fastify: '^5.0.0',
      '@types/express': '^5.0.0',
      '@opentelemetry/api': '^1.9.0',
      'prom-client': '^15.1.0',
      ...nest(11),
      ...typescript,
    },
    programs: [
      tsProgram('ts-node16', 'module', { module: 'node16', moduleResolution: 'node16' }),
      tsProgram('ts-nodenext', 'module', { module: 'nodenext', moduleResolution: 'nodenext' }),
      tsProgram('ts-bundler', 'module', { module: 'esnext', moduleResolution: 'bundler' }),
      tsProgram('ts-commonjs', 'commonjs', { module: 'commonjs', esModuleInterop: true }),
      {
        name: 'js-esm',
        dir: 'js-esm',
        type: 'module',
        files: { 'js/main.mjs': 'main.mjs' },
        entry: 'main.mjs',
      },
      {
        name: 'js-esm (Node 22)',
        dir: 'js-esm',
        type: 'module',
        files: { 'js/main.mjs': 'main.mjs' },
        entry: 'main.mjs',
        node22: true,
      },
      {
        name: 'js-commonjs',
        dir: 'js-cjs',
        type: 'commonjs',
        files: { 'js/main.cjs': 'main.cjs' },
        entry: 'main.cjs',
      },
      {
        name: 'fastify-esm',
        dir: 'fastify-esm',
        type: 'module',
        files: { 'js/fastify.mjs': 'main.mjs' },
        entry: 'main.mjs',
      },
      expressProgram('express-5-cjs'),
      {
        name: 'knex-3-cjs',
        dir: 'knex-cjs',
        type: 'commonjs',
        files: { 'js/knex.cjs': 'main.cjs' },
        entry: 'main.cjs',
      },
      nestProgram('nestjs-11'),
      {
        name: 'load-every-package',
        dir: 'load',
        type: 'module',
        files: { 'js/load.mjs': 'main.mjs' },
        entry: 'main.mjs',
      },
    ],
  },
  {
    name: 'nestjs-12',
    tarballs: ['@leasehold/core', '@leasehold/pg', '@leasehold/nestjs'],
    dependencies: { pg: '^8.16.0', ...nest(12), ...typescript },
    programs: [nestProgram('nestjs-12')],
  },
  {
    name: 'prisma-7',
    tarballs: ['@leasehold/core', '@leasehold/pg', '@leasehold/prisma'],
    dependencies: {
      pg: '^8.16.0',
      '@prisma/client': '^7.0.0',
      '@prisma/adapter-pg': '^7.0.0',
      prisma: '^7.0.0',
      ...typescript,
    },
    programs: [
      {
        name: 'prisma-7',
        dir: 'prisma-7',
        type: 'module',
        files: { 'prisma/main.ts': 'main.ts', 'prisma/schema.prisma': 'schema.prisma' },
        tsconfig: {
          compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' },
          include: ['main.ts', 'generated/**/*.ts'],
        },
        entry: 'dist/main.js',
        prismaGenerate: true,
      },
    ],
  },
  {
    name: 'older-majors',
    tarballs: ['@leasehold/core', '@leasehold/pg', '@leasehold/express', '@leasehold/nestjs'],
    dependencies: { pg: '^8.16.0', express: '^4.21.0', ...nest(10), ...typescript },
    programs: [nestProgram('nestjs-10'), expressProgram('express-4-cjs')],
  },
];
