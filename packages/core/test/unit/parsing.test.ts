import { describe, expect, it } from 'vitest';
import { buildPath, parseAddress, parseRetryAfter } from '../../src/transport/http.js';
import { parseDurationMs, parseGoBool } from '../../src/validation.js';

describe('parsing helpers', () => {
  it('parses Go durations and bare seconds like the Vault CLI', () => {
    expect(parseDurationMs('60')).toBe(60_000);
    expect(parseDurationMs('1.5')).toBe(1500);
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(parseDurationMs('1h')).toBe(3_600_000);
    expect(parseDurationMs('soon')).toBeUndefined();
    expect(parseDurationMs('10x')).toBeUndefined();
    expect(parseDurationMs('')).toBeUndefined();
  });

  it("parses booleans like Go's strconv.ParseBool", () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True']) expect(parseGoBool(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False']) expect(parseGoBool(f)).toBe(false);
    expect(parseGoBool('yes')).toBeUndefined();
  });

  it('parses addresses: https, http with a path prefix, unix sockets', () => {
    expect(parseAddress('https://vault:8200')).toEqual({
      origin: 'https://vault:8200',
      pathPrefix: '',
      socketPath: undefined,
      tls: true,
    });
    expect(parseAddress('http://127.0.0.1:8200/vault/')).toMatchObject({ pathPrefix: '/vault', tls: false });
    expect(parseAddress('unix:///run/vault/agent.sock')).toMatchObject({
      socketPath: '/run/vault/agent.sock',
    });
    expect(() => parseAddress('unix://relative.sock')).toThrow(/absolute/);
    expect(() => parseAddress('ftp://x')).toThrow(/scheme/);
    expect(() => parseAddress('https://user:pw@vault')).toThrow(/credentials/);
  });

  it('builds wire paths: /v1 prefix, LIST as GET ?list=true, query from options or the path, encoding', () => {
    expect(buildPath('GET', '/v1/secret/data/app', undefined).wirePath).toBe('/v1/secret/data/app');
    expect(buildPath('LIST', 'secret/metadata/', undefined)).toMatchObject({
      wireMethod: 'GET',
      wirePath: '/v1/secret/metadata/?list=true',
    });
    expect(buildPath('GET', 'secret/data/app?version=2', { x: 1 })).toMatchObject({
      wirePath: '/v1/secret/data/app?version=2&x=1',
      logicalPath: 'secret/data/app',
    });
    expect(buildPath('GET', 'secret/data/a b', undefined).wirePath).toBe('/v1/secret/data/a%20b');
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('garbage', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
