/**
 * `Redacted<T>`: a box for a secret value that refuses to print it.
 *
 * `String(r)`, a template literal `${r}`, `JSON.stringify(r)` and `util.inspect(r)` (hence `console.log`) all show
 * `[redacted]`. The only way to the value is {@link Redacted.reveal}.
 */

const REDACTED = '[redacted]';
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');
const brand = Symbol.for('leasehold.redacted');

/** A secret value that prints as `[redacted]` everywhere. */
export class Redacted<T = string> {
  readonly #value: T;

  private constructor(value: T) {
    this.#value = value;
    Object.defineProperty(this, brand, { value: true });
  }

  /** Wraps a secret value. Wrapping a `Redacted` returns it unchanged. */
  static of<T>(value: T | Redacted<T>): Redacted<T> {
    return Redacted.isRedacted(value) ? (value as Redacted<T>) : new Redacted(value as T);
  }

  /** True for a `Redacted` from any copy of this library (ESM or CommonJS). */
  static isRedacted(value: unknown): value is Redacted<unknown> {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  /** Returns the secret value. Call it at the last possible moment and never log the result. */
  reveal(): T {
    return this.#value;
  }

  /** Always `[redacted]`. */
  toString(): string {
    return REDACTED;
  }

  /** Always `"[redacted]"` in JSON. */
  toJSON(): string {
    return REDACTED;
  }

  /** Always `[redacted]` in template literals and string coercion. */
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  /** Always `[redacted]` in `util.inspect` / `console.log`. */
  [inspectSymbol](): string {
    return REDACTED;
  }

  get [Symbol.toStringTag](): string {
    return 'Redacted';
  }
}

/** Reveals a value that may or may not be wrapped. */
export function reveal<T>(value: T | Redacted<T>): T {
  return Redacted.isRedacted(value) ? (value as Redacted<T>).reveal() : (value as T);
}
