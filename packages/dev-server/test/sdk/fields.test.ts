/**
 * The field parser against Vault's rules: framework.FieldData
 * (https://github.com/hashicorp/vault/blob/main/sdk/framework/field_data.go), mapstructure's weak decoding and
 * parseutil (https://github.com/hashicorp/go-secure-stdlib/blob/main/parseutil/parseutil.go).
 */
import { describe, expect, it } from 'vitest';
import { FieldData, type FieldType, LogicalError, parseField } from '../../src/sdk/index.js';

type Row = [input: unknown, expected: unknown];

/** Rows whose input converts, then rows whose input is refused with the given reason. */
const accepted: Record<FieldType, Row[]> = {
  bool: [
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['1', true],
    ['t', true],
    ['T', true],
    ['TRUE', true],
    ['true', true],
    ['True', true],
    ['0', false],
    ['f', false],
    ['F', false],
    ['FALSE', false],
    ['false', false],
    ['False', false],
    ['', false],
  ],
  int: [
    [5, 5],
    [-3, -3],
    ['42', 42],
    ['-42', -42],
    ['+7', 7],
    ['0x1f', 31],
    ['0o17', 15],
    ['017', 15],
    ['0b101', 5],
    ['1_000', 1000],
    ['', 0],
    [true, 1],
    [false, 0],
  ],
  float: [
    [1.5, 1.5],
    ['2.25', 2.25],
    ['', 0],
    [true, 1],
  ],
  duration: [
    [90, 90],
    ['90', 90],
    ['90s', 90],
    ['1h30m', 5400],
    ['1.5h', 5400],
    ['1d', 86_400],
    ['500ms', 0],
    ['0', 0],
    ['', 0],
  ],
  'signed-duration': [
    [-5, -5],
    ['-1h', -3600],
    ['-2d', -172_800],
  ],
  string: [
    ['x', 'x'],
    ['', ''],
    [12, '12'],
    [1.5, '1.5'],
    [true, '1'],
    [false, '0'],
  ],
  'lowercase-string': [['MiXeD', 'mixed']],
  'name-string': [
    ['a', 'a'],
    ['my-role.v2_x', 'my-role.v2_x'],
  ],
  'comma-string-slice': [
    ['a,b', ['a', 'b']],
    [' a , b ', ['a', 'b']],
    ['a,,b', ['a', '', 'b']],
    ['', []],
    [
      ['x', ' y '],
      ['x', 'y'],
    ],
    [
      [1, true],
      ['1', '1'],
    ],
    [7, ['7']],
    [{}, []],
  ],
  'string-slice': [
    ['a,b', ['a,b']],
    ['', []],
    [
      [' a ', 'b'],
      ['a', 'b'],
    ],
  ],
  'comma-int-slice': [
    ['1,2,3', [1, 2, 3]],
    [
      [4, '5'],
      [4, 5],
    ],
    [3, [3]],
    ['', []],
  ],
  slice: [
    [
      [1, 'a'],
      [1, 'a'],
    ],
    ['x', ['x']],
  ],
  map: [
    [{ a: 1 }, { a: 1 }],
    [[], {}],
    [[{ a: 1 }, { b: 2 }], { a: 1, b: 2 }],
  ],
  'kv-pairs': [
    [
      { a: 'x', b: 2 },
      { a: 'x', b: '2' },
    ],
    [['a=x', 'b=y=z'], { a: 'x', b: 'y=z' }],
  ],
};

const refused: Partial<Record<FieldType, Row[]>> = {
  bool: [
    ['tRuE', `cannot parse '' as bool: strconv.ParseBool: parsing "tRuE": invalid syntax`],
    ['yes', `cannot parse '' as bool: strconv.ParseBool: parsing "yes": invalid syntax`],
    [' true', `cannot parse '' as bool: strconv.ParseBool: parsing " true": invalid syntax`],
    [2, `cannot parse '' as bool: strconv.ParseBool: parsing "2": invalid syntax`],
    [['true'], `'' expected type 'bool', got unconvertible type '[]interface {}'`],
  ],
  int: [
    ['abc', `cannot parse '' as int: strconv.ParseInt: parsing "abc": invalid syntax`],
    [1.5, `cannot parse '' as int: strconv.ParseInt: parsing "1.5": invalid syntax`],
    [' 5', `cannot parse '' as int: strconv.ParseInt: parsing " 5": invalid syntax`],
    ['09', `cannot parse '' as int: strconv.ParseInt: parsing "09": invalid syntax`],
    [
      '9223372036854775808',
      `cannot parse '' as int: strconv.ParseInt: parsing "9223372036854775808": value out of range`,
    ],
    [{}, `'' expected type 'int', got unconvertible type 'map[string]interface {}'`],
  ],
  duration: [
    [-5, `cannot provide negative value '-5'`],
    ['-1m', `cannot provide negative value '-60'`],
    ['forever', 'time: invalid duration "forever"'],
    ['5x', 'time: unknown unit "x" in duration "5x"'],
    [1.5, 'time: missing unit in duration "1.5"'],
    ['1.5d', 'strconv.ParseInt: parsing "1.5": invalid syntax'],
    ['1d2h', 'time: unknown unit "d" in duration "1d2h"'],
    ['2h1d', 'strconv.ParseInt: parsing "2h1": invalid syntax'],
    [true, 'could not parse duration from input'],
    [' 5s', 'time: invalid duration " 5s"'],
  ],
  string: [[['a'], `'' expected type 'string', got unconvertible type '[]interface {}'`]],
  'name-string': [['-bad', 'field does not match the formatting rules']],
  'comma-string-slice': [
    [[['nested']], `'' expected type 'string', got unconvertible type '[]interface {}'`],
  ],
  'comma-int-slice': [['1,x', `cannot parse '' as int: strconv.ParseInt: parsing "x": invalid syntax`]],
  map: [['{"a":1}', `'' expected a map, got 'string'`]],
  'kv-pairs': [[['novalue'], 'invalid key pair']],
};

describe('field parser (Vault FieldData rules)', () => {
  for (const [type, rows] of Object.entries(accepted) as [FieldType, Row[]][]) {
    it.each(rows)(`${type}: %j → %j`, (input, expected) => {
      expect(parseField(type, input, 'f')).toEqual(expected);
    });
  }

  for (const [type, rows] of Object.entries(refused) as [FieldType, Row[]][]) {
    it.each(rows)(`${type}: %j is refused (%s)`, (input, reason) => {
      let caught: unknown;
      try {
        parseField(type, input, 'f');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LogicalError);
      expect((caught as LogicalError).status).toBe(400);
      expect((caught as LogicalError).errors[0]).toMatch(
        /^Field validation failed: error converting input .* for field "f": /,
      );
      expect((caught as LogicalError).errors[0]?.endsWith(`: ${reason}`)).toBe(true);
    });
  }

  it('null and a missing key mean "not given" for every type', () => {
    for (const type of Object.keys(accepted) as FieldType[]) {
      expect(parseField(type, null, 'f')).toBeUndefined();
      expect(parseField(type, undefined, 'f')).toBeUndefined();
    }
  });

  it('echoes numbers and booleans in the error, never the text of a string-typed field', () => {
    expect(() => parseField('bool', 'tRuE', 'renewable')).toThrow(
      `Field validation failed: error converting input tRuE for field "renewable": cannot parse '' as bool: strconv.ParseBool: parsing "tRuE": invalid syntax`,
    );
    expect(() => parseField('string', ['s3cr3t'], 'password')).toThrow(
      `Field validation failed: error converting input ([]interface {}) for field "password": '' expected type 'string', got unconvertible type '[]interface {}'`,
    );
  });

  it('FieldData: get gives the value, the schema default, or the zero value; getOk tells not given apart', () => {
    const fields = new FieldData(
      { ttl: '1h', name: '', flag: null, extra: 'ignored' },
      {
        ttl: { type: 'duration', default: '30m' },
        max: { type: 'duration', default: '2h' },
        name: { type: 'string', default: 'fallback' },
        flag: { type: 'bool', default: true },
        list: { type: 'comma-string-slice' },
        count: { type: 'int' },
      },
    );
    fields.validate();
    expect(fields.get('ttl')).toBe(3600);
    expect(fields.get('max')).toBe(7200);
    // An empty string is given: the default does not apply (the engine decides what "" means).
    expect(fields.get('name')).toBe('');
    expect(fields.getOk('name')).toBe('');
    // null is not given: the default applies.
    expect(fields.get('flag')).toBe(true);
    expect(fields.getOk('flag')).toBeUndefined();
    expect(fields.has('flag')).toBe(false);
    expect(fields.get('list')).toEqual([]);
    expect(fields.get('count')).toBe(0);
    expect(() => fields.get('extra')).toThrow('field extra is not in the schema');
  });

  it('FieldData.validate refuses the first given field that does not convert, ignoring fields outside the schema', () => {
    const fields = new FieldData({ ttl: 'soon', other: 'tRuE' }, { ttl: { type: 'duration' } });
    expect(() => fields.validate()).toThrow(
      'Field validation failed: error converting input soon for field "ttl": time: invalid duration "soon"',
    );
    expect(() => new FieldData({ other: 'tRuE' }, { ttl: { type: 'duration' } }).validate()).not.toThrow();
  });
});
