import { describe, expect, it } from 'vitest';
import {
  buildAuth,
  displayName,
  parseTokenFields,
  tokenFieldsData,
} from '../../src/backends/auth/tokenutil.js';
import { getBool, getCommaStringSlice } from '../../src/sdk/index.js';
import { addressAllowed, cidrsSubset } from '../../src/util/cidr.js';
import { expectError } from './harness.js';

describe('auth token fields and helpers', () => {
  it('parses every token field from ints, duration strings and form-encoded strings; reads return seconds', () => {
    const fields = parseTokenFields({
      token_ttl: '1h',
      token_max_ttl: 7200,
      token_policies: 'B, a ,a',
      token_bound_cidrs: ['10.0.0.0/8', '192.168.1.1'],
      token_explicit_max_ttl: '3h',
      token_no_default_policy: 'true',
      token_num_uses: '5',
      token_period: '30m',
      token_type: 'service',
    });
    expect(tokenFieldsData(fields)).toEqual({
      token_ttl: 3600,
      token_max_ttl: 7200,
      token_policies: ['a', 'b'],
      policies: ['a', 'b'],
      token_bound_cidrs: ['10.0.0.0/8', '192.168.1.1'],
      token_explicit_max_ttl: 10800,
      token_no_default_policy: true,
      token_num_uses: 5,
      token_period: 1800,
      token_type: 'service',
    });
    const auth = buildAuth(fields, { displayName: 'x', metadata: { k: 'v' }, internal: { r: 1 } });
    expect(auth).toEqual({
      policies: ['a', 'b'],
      ttl: 3600,
      maxTtl: 7200,
      period: 1800,
      explicitMaxTtl: 10800,
      numUses: 5,
      renewable: true,
      displayName: 'x',
      metadata: { k: 'v' },
      tokenType: 'service',
      noDefaultPolicy: true,
      boundCidrs: ['10.0.0.0/8', '192.168.1.1'],
      internal: { r: 1 },
    });
  });

  it('legacy names, partial updates, batch tokens', () => {
    const base = parseTokenFields({ policies: ['old'], ttl: 60, max_ttl: 120 }, undefined, {
      policies: true,
      ttl: true,
    });
    expect(base).toMatchObject({ policies: ['old'], ttl: 60, maxTtl: 120 });
    const updated = parseTokenFields({ token_max_ttl: 600 }, base);
    expect(updated).toMatchObject({ policies: ['old'], ttl: 60, maxTtl: 600 });
    const batch = buildAuth(parseTokenFields({ token_type: 'batch' }), {
      displayName: 'x',
      metadata: {},
      internal: {},
    });
    expect(batch).toMatchObject({ tokenType: 'batch', renewable: false });
  });

  it('rejects bad token fields with clear messages', async () => {
    const fail = (data: Record<string, unknown>) => Promise.resolve().then(() => parseTokenFields(data));
    await expectError(
      fail({ token_ttl: 'forever' }),
      400,
      'Field validation failed: error converting input forever for field "token_ttl": time: invalid duration "forever"',
    );
    await expectError(
      fail({ token_ttl: -5 }),
      400,
      `Field validation failed: error converting input -5 for field "token_ttl": cannot provide negative value '-5'`,
    );
    await expectError(fail({ token_num_uses: -1 }), 400, '"token_num_uses" cannot be negative');
    await expectError(
      fail({ token_num_uses: 'many' }),
      400,
      `Field validation failed: error converting input many for field "token_num_uses": cannot parse '' as int: strconv.ParseInt: parsing "many": invalid syntax`,
    );
    await expectError(
      fail({ token_bound_cidrs: 'nonsense' }),
      400,
      /invalid CIDR block in "token_bound_cidrs"/,
    );
    await expectError(fail({ token_type: 'batch', token_period: 60 }), 400, /cannot be 'batch'/);
    await expectError(
      fail({ token_ttl: 10, token_max_ttl: 5 }),
      400,
      '"token_ttl" should not be greater than "token_max_ttl"',
    );
  });

  it('CIDR checks for IPv4, IPv4-mapped IPv6 and IPv6', () => {
    expect(addressAllowed('10.1.2.3', [])).toBe(true);
    expect(addressAllowed('10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(addressAllowed('11.1.2.3', ['10.0.0.0/8'])).toBe(false);
    expect(addressAllowed('::ffff:127.0.0.1', ['127.0.0.1/32'])).toBe(true);
    expect(addressAllowed('127.0.0.2', ['127.0.0.1'])).toBe(false);
    expect(addressAllowed('::1', ['::1/128'])).toBe(true);
    expect(addressAllowed('2001:db8::5', ['2001:db8::/32'])).toBe(true);
    expect(addressAllowed('2001:db9::5', ['2001:db8::/32'])).toBe(false);
    expect(addressAllowed('::1', ['127.0.0.0/8'])).toBe(false);
    expect(cidrsSubset(['10.0.0.0/8'], ['10.1.0.0/16', '10.2.3.4'])).toBe(true);
    expect(cidrsSubset(['10.0.0.0/16'], ['10.0.0.0/8'])).toBe(false);
  });

  it('field readers and display names', () => {
    expect(getCommaStringSlice({ a: 'x, y,,z' }, 'a')).toEqual(['x', 'y', '', 'z']);
    expect(getBool({ a: 'f' }, 'a')).toBe(false);
    expect(() => getBool({ a: 'maybe' }, 'a')).toThrow(
      `Field validation failed: error converting input maybe for field "a": cannot parse '' as bool: strconv.ParseBool: parsing "maybe": invalid syntax`,
    );
    expect(displayName('auth/userpass/', 'alice')).toBe('userpass-alice');
    expect(displayName('auth/team/jwt/', 'bob@example.com')).toBe('team-jwt-bob-example-com');
  });
});
