/** Pure helpers of the database engine: username templates, statement handling, passwords, redaction. */
import { describe, expect, it } from 'vitest';
import { redact, renderConnectionUrl } from '../../src/backends/database/connection.js';
import { generateDatabasePassword } from '../../src/backends/database/password.js';
import {
  containsMultilineStatement,
  expandStatements,
  formatExpiration,
  formatGoTime,
  parseArbitraryStringSlice,
  quoteIdentifier,
  substitute,
} from '../../src/backends/database/statements.js';
import {
  DEFAULT_POSTGRES_USERNAME_TEMPLATE,
  TemplateError,
  UsernameTemplate,
} from '../../src/backends/database/template.js';

const NOW = Date.UTC(2021, 1, 25, 23, 13, 56, 789); // 1614294836 s

describe('username templates', () => {
  it('renders the PostgreSQL default like Vault', () => {
    const name = new UsernameTemplate(DEFAULT_POSTGRES_USERNAME_TEMPLATE).generate(
      { DisplayName: 'token', RoleName: 'myrolename' },
      NOW,
    );
    expect(name).toMatch(/^v-token-myrolena-[A-Za-z0-9]{20}-1614294836$/);
  });

  it('caps the whole name at 63 characters', () => {
    const template = new UsernameTemplate('{{ printf "%s-%s" .DisplayName .RoleName | truncate 63 }}');
    expect(template.generate({ DisplayName: 'd'.repeat(50), RoleName: 'r'.repeat(50) }, NOW)).toHaveLength(
      63,
    );
  });

  it('supports the template functions and trim markers', () => {
    const render = (source: string): string =>
      new UsernameTemplate(source).generate({ DisplayName: 'Token-App', RoleName: 'Reader' }, NOW);
    expect(render('{{ .DisplayName | lowercase }}_{{ .RoleName | uppercase }}')).toBe('token-app_READER');
    expect(render('{{ .DisplayName | replace "-" "_" }}')).toBe('Token_App');
    expect(render('{{ unix_time_millis }}')).toBe(String(NOW));
    expect(render('{{ timestamp "2006-01-02T15:04:05" }}')).toBe('2021-02-25T23:13:56');
    expect(render('{{ uuid }}')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(render('{{ random 12 }}')).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(render('  a  {{- "b" -}}  c {{/* note */}}')).toBe('abc');
    expect(render('{{ "abcdefghijklmnop" | truncate_sha256 12 }}')).toMatch(/^abcd[0-9a-f]{8}$/);
    expect(render('{{ printf "%s-%d%%" .RoleName 7 }}')).toBe('Reader-7%');
    expect(render('x{{ (.RoleName | lowercase) | truncate 3 }}')).toBe('xrea');
  });

  it('rejects bad templates with a TemplateError', () => {
    expect(() => new UsernameTemplate('{{ nope }}')).toThrow(TemplateError);
    expect(() => new UsernameTemplate('{{ .Other }}')).toThrow(/can't evaluate field Other/);
    expect(() => new UsernameTemplate('{{ printf "x" ')).toThrow(/unclosed action/);
    expect(() => new UsernameTemplate('{{ (truncate 3 .RoleName }}')).toThrow(/unclosed/);
    expect(() =>
      new UsernameTemplate('{{ truncate 0 .RoleName }}').generate({ DisplayName: '', RoleName: 'r' }),
    ).toThrow(/max length must be > 0/);
  });
});

describe('statements', () => {
  it('substitutes placeholders literally', () => {
    expect(
      substitute(`CREATE ROLE "{{name}}" PASSWORD '{{password}}'; -- {{name}}`, { name: 'u', password: 'p' }),
    ).toBe(`CREATE ROLE "u" PASSWORD 'p'; -- u`);
  });

  it('splits on ";" and accepts JSON arrays (also base64-encoded)', () => {
    expect(parseArbitraryStringSlice('A; B ;; C', ';')).toEqual(['A', 'B', '', 'C']);
    expect(parseArbitraryStringSlice('["A; still A", "B"]', ';')).toEqual(['A; still A', 'B']);
    const b64 = Buffer.from(JSON.stringify(['X', 'Y'])).toString('base64');
    expect(parseArbitraryStringSlice(b64, ';')).toEqual(['X', 'Y']);
    expect(expandStatements(['A; B;', '', '["C"]'], true)).toEqual(['A', 'B', 'C']);
  });

  it('runs statements with a standalone END whole', () => {
    const block = `DO $$ BEGIN CREATE ROLE x; EXCEPTION WHEN duplicate_object THEN NULL; END $$;`;
    expect(containsMultilineStatement(block)).toBe(true);
    expect(containsMultilineStatement(`SELECT 'END'; SELECT "END"`)).toBe(false);
    expect(containsMultilineStatement('APPEND; BACKEND; end')).toBe(false);
    expect(expandStatements([block], true)).toEqual([block]);
    expect(expandStatements([block], false)).toHaveLength(3);
  });

  it('formats {{expiration}} with Go layout 2006-01-02 15:04:05-0700', () => {
    expect(formatExpiration(NOW)).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{4}$/);
    const parsed = Date.parse(
      formatExpiration(NOW)
        .replace(' ', 'T')
        .replace(/([+-]\d{2})(\d{2})$/, '$1:$2'),
    );
    expect(parsed).toBe(Math.floor(NOW / 1000) * 1000);
  });

  it('formats times as Go JSON does and quotes identifiers', () => {
    expect(formatGoTime(NOW)).toBe('2021-02-25T23:13:56.789Z');
    expect(formatGoTime(Date.UTC(2021, 0, 1))).toBe('2021-01-01T00:00:00Z');
    expect(formatGoTime(Date.UTC(2021, 0, 1, 0, 0, 0, 500))).toBe('2021-01-01T00:00:00.5Z');
    expect(quoteIdentifier('we"ird')).toBe('"we""ird"');
  });
});

describe('passwords and redaction', () => {
  it('generates Vault-default passwords', () => {
    for (let i = 0; i < 200; i++) {
      const password = generateDatabasePassword();
      expect(password).toMatch(/^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])(?=.*-)[A-Za-z0-9-]{20}$/);
    }
  });

  it('redacts secrets, also URL-encoded, and renders templated URLs', () => {
    expect(redact('bad p@ss and p%40ss', ['p@ss'])).toBe('bad [password] and [password]');
    expect(renderConnectionUrl('postgres://{{username}}:{{password}}@h/db', 'a b', 'p@ss/')).toBe(
      'postgres://a%20b:p%40ss%2F@h/db',
    );
  });
});
