import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { errorFromResponse } from '../../src/errors.js';
import { Redacted, VaultError, VaultErrorCode } from '../../src/index.js';

describe('Redacted', () => {
  const secret = Redacted.of('hvs.super-secret');

  it('prints [redacted] through String, JSON, inspect and template literals', () => {
    expect(String(secret)).toBe('[redacted]');
    expect(`${secret}`).toBe('[redacted]');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(inspect(secret)).toBe('[redacted]');
    expect(inspect({ nested: { secret } }, { depth: 10, showHidden: true })).not.toContain('super-secret');
    expect(`${secret}${secret}`).toBe('[redacted][redacted]');
    // biome-ignore lint/style/useTemplate: string concatenation coercion is what is tested
    expect('x' + secret).toBe('x[redacted]');
  });

  it('reveals only through reveal()', () => {
    expect(secret.reveal()).toBe('hvs.super-secret');
    expect(Redacted.of(secret)).toBe(secret);
    expect(Redacted.isRedacted(secret)).toBe(true);
    expect(Redacted.isRedacted('x')).toBe(false);
    expect(Object.keys(secret)).toEqual([]);
  });
});

describe('VaultError', () => {
  it('maps statuses and Vault error texts to stable codes', () => {
    const cases: Array<[number, string[], VaultErrorCode]> = [
      [403, ['permission denied'], VaultErrorCode.PERMISSION_DENIED],
      [
        403,
        ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'],
        VaultErrorCode.INVALID_TOKEN,
      ],
      [404, [], VaultErrorCode.NOT_FOUND],
      [400, ['missing role_id'], VaultErrorCode.BAD_REQUEST],
      [405, ['unsupported operation'], VaultErrorCode.BAD_REQUEST],
      [429, ['rate limit quota exceeded'], VaultErrorCode.RATE_LIMITED],
      [503, ['Vault is sealed'], VaultErrorCode.SEALED],
      [503, ['node is not active'], VaultErrorCode.UNAVAILABLE],
      [502, ['upstream'], VaultErrorCode.UNAVAILABLE],
      [500, ['internal error'], VaultErrorCode.SERVER_ERROR],
      [412, ['required index state not present'], VaultErrorCode.UNAVAILABLE],
    ];
    for (const [status, errors, code] of cases) {
      const e = errorFromResponse(status, errors, 'GET', 'secret/data/app?version=2');
      expect(e.code).toBe(code);
      expect(e.status).toBe(status);
      expect(e.errors).toEqual(errors);
      expect(e.method).toBe('GET');
      expect(e.path).toBe('secret/data/app');
      expect(e.message).not.toContain('version=2');
    }
  });

  it('keeps the cause and is recognised across copies by brand', () => {
    const cause = new Error('boom');
    const e = new VaultError(VaultErrorCode.UNAVAILABLE, 'down', { cause });
    expect(e.cause).toBe(cause);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('VaultError');
    expect(VaultError.is(e)).toBe(true);
    expect(VaultError.is(e, VaultErrorCode.UNAVAILABLE)).toBe(true);
    expect(VaultError.is(e, VaultErrorCode.SEALED)).toBe(false);
    expect(VaultError.is(new Error('x'))).toBe(false);
    expect(e.retryable).toBe(true);
    expect(new VaultError(VaultErrorCode.PERMISSION_DENIED, 'no').retryable).toBe(false);
  });
});
