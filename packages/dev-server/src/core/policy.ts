import { LogicalError } from '../sdk/index.js';

/** ACL capabilities (Vault's policy language). */
export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny';

const CAPABILITIES: ReadonlySet<string> = new Set([
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
  'sudo',
  'deny',
]);

/** One `path "…" { … }` rule of a parsed policy. */
export interface PathRule {
  readonly pattern: string;
  readonly capabilities: ReadonlySet<Capability>;
}

/** A parsed ACL policy. */
export interface Policy {
  readonly name: string;
  /** The text it was written with (returned by reads). */
  readonly raw: string;
  readonly rules: readonly PathRule[];
}

// ---------------------------------------------------------------------------------------------------------------
// A small HCL reader for the policy subset: blocks (`path "glob" { … }`), `key = value` with strings, numbers,
// booleans, lists and objects, and `#`, `//`, `/* */` comments.
// ---------------------------------------------------------------------------------------------------------------

type Token =
  | { kind: 'string' | 'ident' | 'number'; value: string; line: number }
  | { kind: 'punct'; value: string; line: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '\n') {
      line++;
      i++;
    } else if (/\s/.test(ch)) {
      i++;
    } else if (ch === '#' || (ch === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`line ${line}: unterminated comment`);
      for (let j = i; j < end; j++) if (text[j] === '\n') line++;
      i = end + 2;
    } else if (ch === '"') {
      let value = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\n') throw new Error(`line ${line}: unterminated string`);
        if (text[i] === '\\') {
          const next = text[i + 1];
          value += next === 'n' ? '\n' : next === 't' ? '\t' : (next ?? '');
          i += 2;
        } else {
          value += text[i];
          i++;
        }
      }
      if (i >= text.length) throw new Error(`line ${line}: unterminated string`);
      i++;
      tokens.push({ kind: 'string', value, line });
    } else if ('{}[]=,:'.includes(ch)) {
      tokens.push({ kind: 'punct', value: ch, line });
      i++;
    } else if (/[0-9-]/.test(ch)) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(text.slice(i));
      if (!m) throw new Error(`line ${line}: unexpected character ${JSON.stringify(ch)}`);
      tokens.push({ kind: 'number', value: m[0], line });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', value: m[0], line });
      i += m[0].length;
    } else {
      throw new Error(`line ${line}: unexpected character ${JSON.stringify(ch)}`);
    }
  }
  return tokens;
}

type HclValue = string | number | boolean | HclValue[] | HclObject;
interface HclObject {
  [key: string]: HclValue;
}
/** Blocks repeat (several `path` blocks), so a body keeps an ordered list of entries. */
type HclEntry = { key: string; labels: string[]; value: HclValue };

class HclParser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parseBody(endPunct?: string): HclEntry[] {
    const entries: HclEntry[] = [];
    for (;;) {
      const tok = this.tokens[this.pos];
      if (!tok) {
        if (endPunct) throw new Error(`unexpected end of input, expected "${endPunct}"`);
        return entries;
      }
      if (tok.kind === 'punct' && tok.value === endPunct) {
        this.pos++;
        return entries;
      }
      if (tok.kind === 'punct' && tok.value === ',') {
        this.pos++;
        continue;
      }
      if (tok.kind !== 'ident' && tok.kind !== 'string')
        throw new Error(`line ${tok.line}: expected a key, found ${JSON.stringify(tok.value)}`);
      this.pos++;
      const labels: string[] = [];
      for (;;) {
        const next = this.tokens[this.pos];
        if (!next)
          throw new Error(`line ${tok.line}: unexpected end of input after ${JSON.stringify(tok.value)}`);
        if (next.kind === 'string') {
          labels.push(next.value);
          this.pos++;
          continue;
        }
        if (next.kind === 'punct' && (next.value === '=' || next.value === ':')) {
          this.pos++;
          entries.push({ key: tok.value, labels, value: this.parseValue() });
          break;
        }
        if (next.kind === 'punct' && next.value === '{') {
          this.pos++;
          entries.push({ key: tok.value, labels, value: entriesToObject(this.parseBody('}')) });
          break;
        }
        throw new Error(`line ${next.line}: unexpected ${JSON.stringify(next.value)}`);
      }
    }
  }

  private parseValue(): HclValue {
    const tok = this.tokens[this.pos++];
    if (!tok) throw new Error('unexpected end of input, expected a value');
    if (tok.kind === 'string') return tok.value;
    if (tok.kind === 'number') return Number(tok.value);
    if (tok.kind === 'ident') {
      if (tok.value === 'true') return true;
      if (tok.value === 'false') return false;
      throw new Error(`line ${tok.line}: unexpected ${JSON.stringify(tok.value)}`);
    }
    if (tok.value === '[') {
      const list: HclValue[] = [];
      for (;;) {
        const next = this.tokens[this.pos];
        if (!next) throw new Error('unexpected end of input in a list');
        if (next.kind === 'punct' && next.value === ']') {
          this.pos++;
          return list;
        }
        if (next.kind === 'punct' && next.value === ',') {
          this.pos++;
          continue;
        }
        list.push(this.parseValue());
      }
    }
    if (tok.value === '{') return entriesToObject(this.parseBody('}'));
    throw new Error(`line ${tok.line}: unexpected ${JSON.stringify(tok.value)}`);
  }
}

function entriesToObject(entries: HclEntry[]): HclObject {
  const out: HclObject = {};
  for (const e of entries) {
    let target: HclObject = out;
    for (const label of [e.key, ...e.labels].slice(0, -1)) {
      const existing = target[label];
      if (existing === undefined || typeof existing !== 'object' || Array.isArray(existing))
        target[label] = {};
      target = target[label] as HclObject;
    }
    const last = e.labels.length > 0 ? (e.labels[e.labels.length - 1] as string) : e.key;
    target[last] = e.value;
  }
  return out;
}

const LEGACY: Record<string, Capability[]> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'patch', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo'],
};

function rulesFromPathObject(paths: unknown): PathRule[] {
  if (paths === undefined) return [];
  if (typeof paths !== 'object' || paths === null || Array.isArray(paths))
    throw new Error('"path" must be an object of path rules');
  const rules: PathRule[] = [];
  for (const [pattern, body] of Object.entries(paths as Record<string, unknown>)) {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error(`path ${JSON.stringify(pattern)}: expected a block`);
    const b = body as Record<string, unknown>;
    const caps = new Set<Capability>();
    if (b.capabilities !== undefined) {
      if (!Array.isArray(b.capabilities))
        throw new Error(`path ${JSON.stringify(pattern)}: capabilities must be a list`);
      for (const c of b.capabilities) {
        if (typeof c !== 'string' || !CAPABILITIES.has(c.toLowerCase()))
          throw new Error(`path ${JSON.stringify(pattern)}: invalid capability ${JSON.stringify(c)}`);
        caps.add(c.toLowerCase() as Capability);
      }
    }
    if (b.policy !== undefined) {
      const legacy = typeof b.policy === 'string' ? LEGACY[b.policy.toLowerCase()] : undefined;
      if (!legacy)
        throw new Error(`path ${JSON.stringify(pattern)}: invalid policy ${JSON.stringify(b.policy)}`);
      for (const c of legacy) caps.add(c);
    }
    if (caps.has('deny')) {
      caps.clear();
      caps.add('deny');
    }
    rules.push({ pattern: pattern.replace(/^\//, ''), capabilities: caps });
  }
  return rules;
}

/**
 * Parses a policy written in HCL (the `path` subset) or JSON. Throws a 400 {@link LogicalError}
 * `failed to parse policy: …` naming the problem.
 */
export function parsePolicy(name: string, raw: string): Policy {
  try {
    const trimmed = raw.trim();
    let root: unknown;
    if (trimmed.startsWith('{')) {
      root = JSON.parse(trimmed);
    } else {
      root = entriesToObject(new HclParser(tokenize(raw)).parseBody());
    }
    if (typeof root !== 'object' || root === null || Array.isArray(root))
      throw new Error('expected an object');
    return { name, raw, rules: rulesFromPathObject((root as Record<string, unknown>).path) };
  } catch (error) {
    throw new LogicalError(400, `failed to parse policy: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// ACL evaluation
// ---------------------------------------------------------------------------------------------------------------

interface CompiledRule {
  pattern: string;
  capabilities: Set<Capability>;
  regex: RegExp;
  /** Index of the first `+` or `*` (pattern length when none). */
  firstWildcard: number;
  isGlob: boolean;
  plusCount: number;
}

function compile(pattern: string, capabilities: Set<Capability>): CompiledRule {
  const isGlob = pattern.endsWith('*');
  const body = isGlob ? pattern.slice(0, -1) : pattern;
  const segments = body.split('/');
  const regexBody = segments
    .map((segment) => (segment === '+' ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  const plus = pattern.search(/(^|\/)\+(\/|$|\*)/);
  const firstPlus = plus < 0 ? -1 : pattern[plus] === '+' ? plus : plus + 1;
  const firstWildcard = Math.min(
    firstPlus < 0 ? pattern.length : firstPlus,
    isGlob ? pattern.length - 1 : pattern.length,
  );
  return {
    pattern,
    capabilities,
    regex: new RegExp(`^${regexBody}${isGlob ? '.*' : ''}$`, 's'),
    firstWildcard,
    isGlob,
    plusCount: segments.filter((s) => s === '+').length,
  };
}

/** True when rule `a` has lower priority than rule `b` (Vault's documented precedence). */
function lowerPriority(a: CompiledRule, b: CompiledRule): boolean {
  if (a.firstWildcard !== b.firstWildcard) return a.firstWildcard < b.firstWildcard;
  if (a.isGlob !== b.isGlob) return a.isGlob;
  if (a.plusCount !== b.plusCount) return a.plusCount > b.plusCount;
  if (a.pattern.length !== b.pattern.length) return a.pattern.length < b.pattern.length;
  return a.pattern < b.pattern;
}

/** The merged access-control list of a token's policies. */
export class Acl {
  readonly root: boolean;
  private readonly rules: CompiledRule[];

  constructor(policies: readonly Policy[], root = false) {
    this.root = root;
    const merged = new Map<string, Set<Capability>>();
    for (const policy of policies) {
      for (const rule of policy.rules) {
        const caps = merged.get(rule.pattern) ?? new Set<Capability>();
        for (const c of rule.capabilities) caps.add(c);
        merged.set(rule.pattern, caps);
      }
    }
    this.rules = [...merged].map(([pattern, caps]) => {
      if (caps.has('deny')) return compile(pattern, new Set(['deny']));
      return compile(pattern, caps);
    });
  }

  /** Capabilities the token has on `path` (the most specific matching rule; `deny` → `['deny']`). */
  capabilities(path: string): Capability[] {
    if (this.root) return ['root' as Capability];
    let best: CompiledRule | undefined;
    for (const rule of this.rules) {
      if (!rule.regex.test(path)) continue;
      if (!best || lowerPriority(best, rule)) best = rule;
    }
    if (!best) return ['deny'];
    return [...best.capabilities].sort();
  }

  /** Whether `capability` is granted on `path` (and `sudo` when `needSudo`). */
  allows(path: string, capability: Capability, needSudo = false): boolean {
    if (this.root) return true;
    const caps = this.capabilities(path);
    if (caps.includes('deny')) return false;
    if (needSudo && !caps.includes('sudo')) return false;
    return caps.includes(capability);
  }

  /** Whether any rule grants something at or below `prefix` (used by `sys/internal/ui/mounts`). */
  hasAccessUnder(prefix: string): boolean {
    if (this.root) return true;
    for (const rule of this.rules) {
      if (rule.capabilities.has('deny') || rule.capabilities.size === 0) continue;
      const literal = rule.pattern.slice(0, rule.firstWildcard);
      if (literal.startsWith(prefix) || (rule.regex.test(prefix) && rule.isGlob)) return true;
      if (prefix.startsWith(literal) && rule.isGlob) return true;
    }
    return false;
  }
}

/**
 * Vault's built-in `default` policy: the self-service grants of `defaultPolicy` in
 * https://github.com/hashicorp/vault/blob/main/vault/policy_store.go.
 */
export const DEFAULT_POLICY = `# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow checking the status of a Control Group request if the user has the
# accessor
path "sys/control-group/request" {
    capabilities = ["update"]
}

# Allow the UI and clients to detect mount types (e.g. the KV version)
path "sys/internal/ui/mounts" {
    capabilities = ["read"]
}
`;
