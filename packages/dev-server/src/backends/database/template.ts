/**
 * A small interpreter for the subset of Go's `text/template` that Vault's `username_template` uses
 * (`sdk/helper/template`): literal text, `{{ … }}` actions with `{{-`/`-}}` trim markers and comments, pipelines
 * with `|`, parenthesised sub-pipelines, string/number literals, the fields `.DisplayName` and `.RoleName`, and
 * Vault's template functions (`printf`, `truncate`, `truncate_sha256`, `random`, `unix_time`, `unix_time_millis`,
 * `timestamp`, `uppercase`, `lowercase`, `replace`, `uuid`, `sha256`, `base64`).
 *
 * The result is trimmed of surrounding whitespace, as Vault's `StringTemplate.Generate` does.
 */
import { createHash, randomUUID } from 'node:crypto';
import { randomBase62 } from '../../util/random.js';

/** The data a username template can reference. */
export interface UsernameMetadata {
  DisplayName: string;
  RoleName: string;
}

/** Thrown when a template cannot be parsed or executed. The message names the problem. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Value = string | number;

type Operand =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'field'; name: string }
  | { kind: 'ident'; name: string }
  | { kind: 'pipeline'; pipeline: Pipeline };

type Command = Operand[];
type Pipeline = Command[];

type Node = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Pipeline };

type Token =
  | { kind: 'pipe' }
  | { kind: 'lparen' }
  | { kind: 'rparen' }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'field'; name: string }
  | { kind: 'ident'; name: string };

/** Go's reference time, used by the `timestamp` function's layouts. */
const GO_LAYOUT_TOKENS: ReadonlyArray<[string, (d: Date) => string]> = [
  ['2006', (d) => String(d.getUTCFullYear()).padStart(4, '0')],
  ['01', (d) => String(d.getUTCMonth() + 1).padStart(2, '0')],
  ['02', (d) => String(d.getUTCDate()).padStart(2, '0')],
  ['15', (d) => String(d.getUTCHours()).padStart(2, '0')],
  ['04', (d) => String(d.getUTCMinutes()).padStart(2, '0')],
  ['05', (d) => String(d.getUTCSeconds()).padStart(2, '0')],
  ['Z07:00', () => 'Z'],
  ['-0700', () => '+0000'],
  ['MST', () => 'UTC'],
];

/** Formats a date (UTC) with a Go layout string made of the common reference-time tokens. */
function formatGoLayout(date: Date, layout: string): string {
  let out = '';
  let i = 0;
  outer: while (i < layout.length) {
    for (const [token, render] of GO_LAYOUT_TOKENS) {
      if (layout.startsWith(token, i)) {
        out += render(date);
        i += token.length;
        continue outer;
      }
    }
    out += layout[i];
    i++;
  }
  return out;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      tokens.push({ kind: 'pipe' });
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'lparen' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'rparen' });
      i++;
    } else if (c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new TemplateError('unterminated quoted string');
        const ch = source[i] as string;
        if (ch === '"') break;
        if (ch === '\\') {
          const next = source[i + 1];
          const escapes: Record<string, string> = {
            n: '\n',
            t: '\t',
            r: '\r',
            '\\': '\\',
            '"': '"',
            "'": "'",
          };
          if (next === undefined || escapes[next] === undefined)
            throw new TemplateError('invalid escape in string');
          value += escapes[next];
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      i++;
      tokens.push({ kind: 'string', value });
    } else if (c === '`') {
      const end = source.indexOf('`', i + 1);
      if (end < 0) throw new TemplateError('unterminated raw quoted string');
      tokens.push({ kind: 'string', value: source.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '.') {
      const match = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(source.slice(i));
      if (!match) throw new TemplateError(`unexpected "." at position ${i}`);
      tokens.push({ kind: 'field', name: match[1] as string });
      i += match[0].length;
    } else if (/[-+0-9]/.test(c)) {
      const match = /^[-+]?\d+/.exec(source.slice(i));
      if (!match) throw new TemplateError(`bad number at position ${i}`);
      tokens.push({ kind: 'number', value: Number.parseInt(match[0], 10) });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', name: match[0] });
      i += match[0].length;
    } else {
      throw new TemplateError(`unexpected character ${JSON.stringify(c)} in action`);
    }
  }
  return tokens;
}

function parsePipeline(tokens: Token[], pos: { i: number }, nested: boolean): Pipeline {
  const pipeline: Pipeline = [];
  let command: Command = [];
  while (pos.i < tokens.length) {
    const token = tokens[pos.i] as Token;
    if (token.kind === 'rparen') {
      if (!nested) throw new TemplateError('unexpected ")" in action');
      break;
    }
    pos.i++;
    if (token.kind === 'pipe') {
      if (command.length === 0) throw new TemplateError('missing command before "|"');
      pipeline.push(command);
      command = [];
    } else if (token.kind === 'lparen') {
      const inner = parsePipeline(tokens, pos, true);
      if (tokens[pos.i]?.kind !== 'rparen') throw new TemplateError('unclosed "(" in action');
      pos.i++;
      command.push({ kind: 'pipeline', pipeline: inner });
    } else {
      command.push(token);
    }
  }
  if (command.length === 0)
    throw new TemplateError(pipeline.length ? 'missing command after "|"' : 'missing value for command');
  pipeline.push(command);
  return pipeline;
}

function parse(template: string): Node[] {
  const nodes: Node[] = [];
  let rest = template;
  let trimNextText = false;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    let text = open < 0 ? rest : rest.slice(0, open);
    if (trimNextText) text = text.replace(/^\s+/, '');
    trimNextText = false;
    if (open < 0) {
      if (text) nodes.push({ kind: 'text', text });
      break;
    }
    let body = rest.slice(open + 2);
    const close = body.indexOf('}}');
    if (close < 0) throw new TemplateError('unclosed action');
    let inner = body.slice(0, close);
    body = body.slice(close + 2);
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      trimNextText = true;
      inner = inner.slice(0, -1);
    }
    if (text) nodes.push({ kind: 'text', text });
    rest = body;
    const trimmed = inner.trim();
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw new TemplateError('unclosed comment');
      continue;
    }
    const tokens = tokenize(inner);
    if (tokens.length === 0) throw new TemplateError('missing value for command');
    const pos = { i: 0 };
    const pipeline = parsePipeline(tokens, pos, false);
    nodes.push({ kind: 'action', pipeline });
  }
  return nodes;
}

function asString(value: Value | undefined, fn: string): string {
  if (typeof value !== 'string') throw new TemplateError(`${fn}: expected a string argument`);
  return value;
}

function asInt(value: Value | undefined, fn: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new TemplateError(`${fn}: expected an integer argument`);
  return value;
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Go `fmt.Sprintf` for the verbs a username template needs: `%s`, `%v`, `%d`, `%q`, `%%`. */
function sprintf(format: string, args: Value[]): string {
  let index = 0;
  return format.replace(/%([%svdq])/g, (_match, verb: string) => {
    if (verb === '%') return '%';
    if (index >= args.length) return `%!${verb}(MISSING)`;
    const arg = args[index++] as Value;
    if (verb === 'q') return JSON.stringify(String(arg));
    if (verb === 'd' && typeof arg !== 'number') return `%!d(string=${arg})`;
    return String(arg);
  });
}

type Fn = (args: Value[], now: number) => Value;

const FUNCTIONS: Record<string, Fn> = {
  printf: (args) => sprintf(asString(args[0], 'printf'), args.slice(1)),
  truncate: ([max, value]) => {
    const n = asInt(max, 'truncate');
    const s = asString(value, 'truncate');
    if (n <= 0) throw new TemplateError(`truncate: max length must be > 0 but was ${n}`);
    return s.length > n ? s.slice(0, n) : s;
  },
  truncate_sha256: ([max, value]) => {
    const n = asInt(max, 'truncate_sha256');
    const s = asString(value, 'truncate_sha256');
    if (n <= 8) throw new TemplateError(`truncate_sha256: max length must be > 8 but was ${n}`);
    if (s.length <= n) return s;
    const cut = n - 8;
    return s.slice(0, cut) + sha256Hex(s.slice(cut)).slice(0, 8);
  },
  random: ([length]) => {
    const n = asInt(length, 'random');
    if (n <= 0) throw new TemplateError(`random: length must be > 0 but was ${n}`);
    return randomBase62(n);
  },
  unix_time: (_args, now) => String(Math.floor(now / 1000)),
  unix_time_millis: (_args, now) => String(Math.floor(now)),
  timestamp: ([layout], now) => formatGoLayout(new Date(now), asString(layout, 'timestamp')),
  uppercase: ([value]) => asString(value, 'uppercase').toUpperCase(),
  lowercase: ([value]) => asString(value, 'lowercase').toLowerCase(),
  replace: ([find, replacement, value]) =>
    asString(value, 'replace').split(asString(find, 'replace')).join(asString(replacement, 'replace')),
  uuid: () => randomUUID(),
  sha256: ([value]) => sha256Hex(asString(value, 'sha256')),
  base64: ([value]) => Buffer.from(asString(value, 'base64'), 'utf8').toString('base64'),
};

/** A compiled username template. */
export class UsernameTemplate {
  private readonly nodes: Node[];

  /** Parses `source`; throws {@link TemplateError} when it is not a valid template. */
  constructor(readonly source: string) {
    this.nodes = parse(source);
    for (const node of this.nodes) if (node.kind === 'action') this.checkPipeline(node.pipeline);
  }

  /** Renders the template for `data` at time `now` (ms). Throws {@link TemplateError} on execution errors. */
  generate(data: UsernameMetadata, now: number = Date.now()): string {
    let out = '';
    for (const node of this.nodes) {
      out += node.kind === 'text' ? node.text : String(this.evalPipeline(node.pipeline, data, now));
    }
    return out.trim();
  }

  private checkPipeline(pipeline: Pipeline): void {
    for (const command of pipeline) {
      for (const operand of command) {
        if (operand.kind === 'ident' && !(operand.name in FUNCTIONS))
          throw new TemplateError(`function "${operand.name}" not defined`);
        if (operand.kind === 'field' && operand.name !== 'DisplayName' && operand.name !== 'RoleName')
          throw new TemplateError(`can't evaluate field ${operand.name}`);
        if (operand.kind === 'pipeline') this.checkPipeline(operand.pipeline);
      }
    }
  }

  private evalOperand(operand: Operand, data: UsernameMetadata, now: number): Value {
    switch (operand.kind) {
      case 'string':
      case 'number':
        return operand.value;
      case 'field':
        return data[operand.name as keyof UsernameMetadata] ?? '';
      case 'pipeline':
        return this.evalPipeline(operand.pipeline, data, now);
      case 'ident':
        return this.call(operand.name, [], now);
    }
  }

  private call(name: string, args: Value[], now: number): Value {
    const fn = FUNCTIONS[name];
    if (!fn) throw new TemplateError(`function "${name}" not defined`);
    return fn(args, now);
  }

  private evalPipeline(pipeline: Pipeline, data: UsernameMetadata, now: number): Value {
    let piped: Value | undefined;
    for (const command of pipeline) {
      const [head, ...rest] = command as [Operand, ...Operand[]];
      if (head.kind === 'ident') {
        const args = rest.map((operand) => this.evalOperand(operand, data, now));
        if (piped !== undefined) args.push(piped);
        piped = this.call(head.name, args, now);
      } else {
        if (rest.length > 0 || piped !== undefined)
          throw new TemplateError("can't give argument to non-function");
        piped = this.evalOperand(head, data, now);
      }
    }
    return piped as Value;
  }
}

/** The PostgreSQL plugin's default `username_template`. */
export const DEFAULT_POSTGRES_USERNAME_TEMPLATE =
  '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}';
