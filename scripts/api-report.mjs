#!/usr/bin/env node
// API reports: one `api/<entry>.api.md` per entry point of a published package, made by API Extractor from the
// declarations the build emits (`dist/**/*.d.ts`). Run in a package directory (turbo runs it as `api-report`).
//
//   node ../../scripts/api-report.mjs           check: fails when a report differs from the committed one
//   node ../../scripts/api-report.mjs --update  rewrite the committed reports (`pnpm api:update` at the root)
//
// Any API Extractor warning (an exported symbol that refers to an unexported type, a broken `{@link}`, malformed
// TSDoc) fails the run too, in both modes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const update = process.argv.includes('--update');
const packageFolder = process.cwd();
const packageJsonPath = join(packageFolder, 'package.json');
const pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8'));
if (pkg.private) {
  console.log(`${pkg.name} is private: no API report`);
  process.exit(0);
}

/** `.` → `index`, `./host` → `host`; the ESM declaration file of each subpath of `exports`. */
function entryPoints() {
  const entries = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (subpath === './package.json') continue;
    const types = target?.import?.types ?? target?.types;
    if (typeof types !== 'string') {
      throw new Error(`${pkg.name}: exports["${subpath}"] has no import.types; cannot make its API report`);
    }
    const name = subpath === '.' ? 'index' : subpath.slice(2).replaceAll('/', '-');
    entries.push({ subpath, name, declarations: resolve(packageFolder, types) });
  }
  return entries;
}

/** The names each entry point's declarations export (the `export { … }` statements of tsup's rollup, local or from a shared chunk). */
function exportedNames(declarations) {
  const names = new Set();
  for (const match of readFileSync(declarations, 'utf8').matchAll(
    /^export \{([^}]*)\}(?: from '[^']+')?;?$/gm,
  )) {
    for (const item of match[1].split(',')) {
      const parts = item
        .trim()
        .replace(/^type /, '')
        .split(/\s+as\s+/);
      if (parts[0]) names.add(parts.at(-1));
    }
  }
  return names;
}

/** Names declared with an `@internal` TSDoc tag in the package's declarations: deliberate internals, not exports. */
function internalNames() {
  const names = new Set();
  const dist = join(packageFolder, 'dist');
  const files = readdirSync(dist, { recursive: true }).filter((file) => String(file).endsWith('.d.ts'));
  for (const file of files) {
    const text = readFileSync(join(dist, String(file)), 'utf8');
    const tagged =
      /\/\*\*(?:(?!\*\/)[\s\S])*@internal(?:(?!\*\/)[\s\S])*\*\/\s*(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:interface|type|class|const|function)\s+([A-Za-z_$][\w$]*)/g;
    for (const match of text.matchAll(tagged)) names.add(match[1]);
  }
  return names;
}

const entries = entryPoints();
const internal = internalNames();
const reportFolder = join(packageFolder, 'api');
const tempFolder = join(packageFolder, 'node_modules', '.api-report');
mkdirSync(reportFolder, { recursive: true });
mkdirSync(tempFolder, { recursive: true });

let failed = false;
for (const entry of entries) {
  if (!existsSync(entry.declarations)) {
    console.error(
      `${pkg.name} ${entry.subpath}: ${entry.declarations} is missing — run \`pnpm build\` first`,
    );
    failed = true;
    continue;
  }
  // A type that another entry point of this package exports (e.g. `Vault` from `.` used by `./host`) is reachable
  // by users, so it is not a forgotten export. Anything exported by no entry point is.
  const elsewhere = new Set(
    entries
      .filter((other) => other !== entry && existsSync(other.declarations))
      .flatMap((other) => [...exportedNames(other.declarations)]),
  );
  const config = ExtractorConfig.prepare({
    configObjectFullPath: join(packageFolder, 'api-extractor.json'),
    packageJsonFullPath: packageJsonPath,
    configObject: {
      projectFolder: packageFolder,
      mainEntryPointFilePath: entry.declarations,
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            types: ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: [entry.declarations],
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: `${entry.name}.api.md`,
        reportFolder,
        reportTempFolder: tempFolder,
        includeForgottenExports: false,
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      newlineKind: 'lf',
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          // Release tags (@public/@beta) are not used: everything exported is public, the version says the rest.
          'ae-missing-release-tag': { logLevel: 'none' },
          // Members are documented where it helps; TypeDoc (`pnpm docs`) requires TSDoc on every exported
          // declaration, which is the gate for documentation.
          'ae-undocumented': { logLevel: 'none' },
          // Links are validated by TypeDoc (`pnpm docs`, `validation.invalidLink`), which resolves them the way the
          // published reference does; API Extractor's stricter resolution would reject `{@link Vault.request}`-style
          // references across entry points that TypeDoc renders correctly.
          'ae-unresolved-link': { logLevel: 'none' },
          // `@packageDocumentation` sits in each entry's source; the bundler moves it, which changes nothing.
          'ae-misplaced-package-tag': { logLevel: 'none' },
        },
        tsdocMessageReporting: { default: { logLevel: 'warning' } },
      },
    },
  });
  const result = Extractor.invoke(config, {
    localBuild: update,
    showVerboseMessages: false,
    messageCallback(message) {
      // API Extractor's own "report changed / created" notices: this script says it once, with the command to run.
      if (message.category === 'console' && message.messageId.startsWith('console-api-report')) {
        message.logLevel = 'none';
      }
      if (message.messageId === 'ae-forgotten-export') {
        const symbol = /The symbol "([^"]+)"/.exec(message.text)?.[1];
        if (symbol && (elsewhere.has(symbol) || internal.has(symbol))) message.logLevel = 'none';
      }
      // Prefix each message with the entry point so a failure says where it is.
      if (message.logLevel === 'warning' || message.logLevel === 'error') {
        message.text = `[${pkg.name} ${entry.subpath}] ${message.text}`;
      }
    },
  });
  const where = `${pkg.name} ${entry.subpath} (api/${entry.name}.api.md)`;
  if (result.errorCount + result.warningCount > 0) {
    console.error(
      `${where}: ${result.errorCount} error(s), ${result.warningCount} warning(s) — fix them (see above)`,
    );
    failed = true;
  } else if (result.apiReportChanged && !update) {
    // The diff in the log, so CI shows what changed (API Extractor wrote the new report to its temp folder).
    const fresh = join(tempFolder, `${entry.name}.api.md`);
    const diff = spawnSync(
      'git',
      ['diff', '--no-index', '--no-color', join(reportFolder, `${entry.name}.api.md`), fresh],
      {
        encoding: 'utf8',
      },
    );
    if (diff.stdout) console.error(diff.stdout);
    console.error(
      `${where}: the public API differs from the committed report.\n` +
        '  If the change is intended, run `pnpm api:update` at the repository root and commit the reports.',
    );
    failed = true;
  } else {
    console.log(`${where}: ${result.apiReportChanged ? 'updated' : 'unchanged'}`);
  }
}
process.exit(failed ? 1 : 0);
