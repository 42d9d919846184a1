import { describe, expect, it } from 'vitest';
import { checkOption, checkOptionsObject, MAX_TIMER_MS } from '../../src/option-checks.js';

describe('checkOption', () => {
  it('accepts undefined for optional options and values of the right kind', () => {
    expect(() => checkOption('f', 'a', undefined, 'boolean')).not.toThrow();
    expect(() => checkOption('f', 'a', false, 'boolean')).not.toThrow();
    expect(() => checkOption('f', 'a', 0, 'ms')).not.toThrow();
    expect(() => checkOption('f', 'a', MAX_TIMER_MS, 'positiveMs')).not.toThrow();
    expect(() => checkOption('f', 'a', 3, 'positiveInteger')).not.toThrow();
  });

  it('names the function, the option, the expected kind and the fix; never echoes a string value', () => {
    const err = (() => {
      try {
        checkOption('createThing', 'revokeOnEnd', 'no', 'boolean');
      } catch (e) {
        return e as Error & { code?: string };
      }
      return undefined;
    })();
    expect(err?.code).toBe('VAULT_CONFIG');
    expect(err?.message).toBe(
      'Invalid option "revokeOnEnd" of createThing: must be true or false, got a string. Pass true or false, or leave it out for the default.',
    );
    expect(() => checkOption('f', 'a', 'hunter2', 'positiveInteger')).toThrow(/got a string\./);
    expect(() => checkOption('f', 'a', 'hunter2', 'positiveInteger')).not.toThrow(/hunter2/);
    expect(() => checkOption('f', 't', MAX_TIMER_MS + 1, 'ms')).toThrow(
      /from 0 to 2147483647, got 2147483648/,
    );
    expect(() => checkOption('f', 't', 0, 'positiveMs')).toThrow(/from 1 to/);
    expect(() => checkOption('f', 't', Number.NaN, 'ms')).toThrow(/got NaN/);
    expect(() => checkOption('f', 'r', undefined, 'string', { required: true })).toThrow(
      /must be a non-empty string, got undefined\. Pass a non-empty string\./,
    );
    expect(() => checkOption('f', 'x', 1, 'object', { fix: 'Do this.' })).toThrow(/got 1\. Do this\.$/);
    expect(() => checkOption('f', 'vault', {}, 'vault', { required: true })).toThrow(
      /"vault" of f: must be a Vault client \(from createVault\(\)\), got an object/,
    );
  });

  it('checkOptionsObject rejects a missing options object with a typed error', () => {
    expect(() => checkOptionsObject('createThing', undefined)).toThrow(
      expect.objectContaining({
        code: 'VAULT_CONFIG',
        message: expect.stringMatching(/^createThing needs an options object/),
      }),
    );
    expect(() => checkOptionsObject('createThing', undefined, true)).not.toThrow();
    expect(() => checkOptionsObject('createThing', [])).toThrow(/got an array/);
  });
});
