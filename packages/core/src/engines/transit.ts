/**
 * `vault.transit`: encryption as a service. Plaintexts go in as strings/bytes (base64-encoded for Vault) and come
 * back as {@link Redacted} buffers. Batch calls return one result per input item, in order, with per-item errors;
 * batches larger than `batchSize` are split into several requests.
 */
import { z } from 'zod';
import { errorFromResponse, VaultError, VaultErrorCode } from '../errors.js';
import { Redacted } from '../redacted.js';
import { type AnswerOf, parseResponse, positiveInt, strictBoolean } from '../validation.js';
import type { Vault } from '../vault.js';
import { checkMount, checkName } from './common.js';

/** Bytes accepted by transit: a UTF-8 string, bytes, or either wrapped in {@link Redacted}. */
export type TransitInput = string | Uint8Array | Redacted<string> | Redacted<Uint8Array>;

/** Mount selection. */
export interface TransitMountOptions {
  /** Mount of the transit engine (default `transit`). */
  mount?: string;
}

/** Options shared by encrypt/decrypt/rewrap. */
export interface TransitCryptOptions extends TransitMountOptions {
  /** Key-derivation context (required for derived keys). */
  context?: string | Uint8Array;
  /** Key version to encrypt with (default: latest). */
  keyVersion?: number;
  /** AEAD associated data. */
  associatedData?: string | Uint8Array;
}

/** Options of batch calls. */
export interface TransitBatchOptions extends TransitMountOptions {
  /** Key version for every item (encrypt/rewrap). */
  keyVersion?: number;
  /** Most items per request (default 250); larger batches are split. */
  batchSize?: number;
}

/** One batch item's result: `ok` with the value, or the item's own error. */
export type TransitItemResult<V> =
  | ({ ok: true; reference: string | undefined } & V)
  | { ok: false; reference: string | undefined; error: VaultError };

/** A ciphertext and the key version that produced it. */
export interface Ciphertext {
  ciphertext: string;
  keyVersion: number | undefined;
}

/** A decrypted plaintext. */
export interface Plaintext {
  plaintext: Redacted<Buffer>;
}

/** Default maximum items per batch request. */
export const TRANSIT_BATCH_SIZE = 250;

const text = z.string({ error: 'must be a string' });
const ciphertextText = text.startsWith('vault:', 'must be a "vault:vN:…" ciphertext');
const keyVersion = positiveInt.optional();

/** One result of transit (https://developer.hashicorp.com/vault/api-docs/secret/transit#encrypt-data). */
const batchItem = z.object({
  ciphertext: ciphertextText.optional(),
  plaintext: text.optional(),
  key_version: keyVersion,
  reference: text.optional(),
  error: text.optional(),
});

type BatchItemWire = z.output<typeof batchItem>;

/** A transit answer whose `data` has `shape`. */
function dataWith<S extends z.ZodRawShape>(shape: S) {
  return z.object({ data: z.object(shape) });
}

const ciphertextAnswer = dataWith({
  ciphertext: ciphertextText,
  key_version: keyVersion,
  plaintext: text.optional(),
});
const batchAnswer = dataWith({ batch_results: z.array(batchItem, { error: 'must be a list' }) });

/** `vault.transit`. */
export class TransitEngine {
  readonly #vault: Vault;

  /** @internal */
  constructor(vault: Vault) {
    this.#vault = vault;
  }

  /** Creates (or upserts) a key. `type` default `aes256-gcm96`. */
  async createKey(
    name: string,
    options: TransitMountOptions & { type?: string; derived?: boolean; exportable?: boolean } = {},
  ): Promise<void> {
    const { mount, key } = this.#target(name, options);
    await this.#vault.request('POST', `${mount}/keys/${key}`, {
      body: { type: options.type, derived: options.derived, exportable: options.exportable },
      template: `${mount}/keys/:key`,
    });
  }

  /** Rotates a key (new latest version). */
  async rotateKey(name: string, options: TransitMountOptions = {}): Promise<void> {
    const { mount, key } = this.#target(name, options);
    await this.#vault.request('POST', `${mount}/keys/${key}/rotate`, {
      template: `${mount}/keys/:key/rotate`,
    });
  }

  /** Encrypts one plaintext. */
  async encrypt(
    keyName: string,
    plaintext: TransitInput,
    options: TransitCryptOptions = {},
  ): Promise<Ciphertext> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/encrypt/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: { plaintext: b64(plaintext), ...common(options) },
      template: `${mount}/encrypt/:key`,
    });
    return ciphertextFrom(parseResponse(ciphertextAnswer, res.body, answerOf(path, res.status)).data);
  }

  /** Decrypts one ciphertext. */
  async decrypt(
    keyName: string,
    ciphertext: string,
    options: TransitCryptOptions = {},
  ): Promise<Redacted<Buffer>> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/decrypt/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: { ciphertext: checkCiphertext(ciphertext), ...common(options) },
      template: `${mount}/decrypt/:key`,
    });
    const { data } = parseResponse(dataWith({ plaintext: text }), res.body, answerOf(path, res.status));
    return Redacted.of(Buffer.from(data.plaintext, 'base64'));
  }

  /** Re-encrypts a ciphertext under the latest (or `keyVersion`) key version without exposing the plaintext. */
  async rewrap(keyName: string, ciphertext: string, options: TransitCryptOptions = {}): Promise<Ciphertext> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/rewrap/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: { ciphertext: checkCiphertext(ciphertext), ...common(options) },
      template: `${mount}/rewrap/:key`,
    });
    return ciphertextFrom(parseResponse(ciphertextAnswer, res.body, answerOf(path, res.status)).data);
  }

  /** Encrypts many plaintexts; one result per item, in order, with per-item errors. */
  encryptBatch(
    keyName: string,
    items: ReadonlyArray<{ plaintext: TransitInput; context?: string | Uint8Array; reference?: string }>,
    options: TransitBatchOptions = {},
  ): Promise<Array<TransitItemResult<Ciphertext>>> {
    return this.#batch(
      'encrypt',
      keyName,
      items.map((i) => ({ plaintext: b64(i.plaintext), context: optB64(i.context), reference: i.reference })),
      options,
      (w) => ({ ciphertext: w.ciphertext ?? '', keyVersion: w.key_version }),
    );
  }

  /** Decrypts many ciphertexts; one result per item, in order, with per-item errors. */
  decryptBatch(
    keyName: string,
    items: ReadonlyArray<{ ciphertext: string; context?: string | Uint8Array; reference?: string }>,
    options: TransitBatchOptions = {},
  ): Promise<Array<TransitItemResult<Plaintext>>> {
    return this.#batch(
      'decrypt',
      keyName,
      items.map((i) => ({ ciphertext: i.ciphertext, context: optB64(i.context), reference: i.reference })),
      options,
      (w) => ({ plaintext: Redacted.of(Buffer.from(w.plaintext ?? '', 'base64')) }),
    );
  }

  /** Rewraps many ciphertexts; one result per item, in order, with per-item errors. */
  rewrapBatch(
    keyName: string,
    items: ReadonlyArray<{ ciphertext: string; context?: string | Uint8Array; reference?: string }>,
    options: TransitBatchOptions = {},
  ): Promise<Array<TransitItemResult<Ciphertext>>> {
    return this.#batch(
      'rewrap',
      keyName,
      items.map((i) => ({ ciphertext: i.ciphertext, context: optB64(i.context), reference: i.reference })),
      options,
      (w) => ({ ciphertext: w.ciphertext ?? '', keyVersion: w.key_version }),
    );
  }

  /**
   * A data key for envelope encryption: `plaintext` type returns the key (Redacted) and its ciphertext, `wrapped`
   * only the ciphertext.
   */
  async dataKey(
    keyName: string,
    options: TransitMountOptions & {
      type?: 'plaintext' | 'wrapped';
      bits?: 128 | 256 | 512;
      context?: string | Uint8Array;
    } = {},
  ): Promise<Ciphertext & { plaintext: Redacted<Buffer> | undefined }> {
    const { mount, key } = this.#target(keyName, options);
    const type = options.type ?? 'plaintext';
    if (type !== 'plaintext' && type !== 'wrapped') {
      throw new VaultError(VaultErrorCode.CONFIG, 'Invalid option "type": must be "plaintext" or "wrapped".');
    }
    const path = `${mount}/datakey/${type}/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: { bits: options.bits, context: optB64(options.context) },
      template: `${mount}/datakey/:type/:key`,
    });
    const { data } = parseResponse(ciphertextAnswer, res.body, answerOf(path, res.status));
    return {
      ...ciphertextFrom(data),
      plaintext:
        data.plaintext === undefined ? undefined : Redacted.of(Buffer.from(data.plaintext, 'base64')),
    };
  }

  /** Signs `input` with an asymmetric key. */
  async sign(
    keyName: string,
    input: TransitInput,
    options: TransitMountOptions & {
      hashAlgorithm?: string;
      signatureAlgorithm?: string;
      prehashed?: boolean;
      keyVersion?: number;
      marshalingAlgorithm?: 'asn1' | 'jws';
    } = {},
  ): Promise<{ signature: string; keyVersion: number | undefined }> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/sign/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: {
        input: b64(input),
        hash_algorithm: options.hashAlgorithm,
        signature_algorithm: options.signatureAlgorithm,
        prehashed: options.prehashed,
        key_version: options.keyVersion,
        marshaling_algorithm: options.marshalingAlgorithm,
      },
      template: `${mount}/sign/:key`,
    });
    const answer = dataWith({ signature: text, key_version: keyVersion });
    const { data } = parseResponse(answer, res.body, answerOf(path, res.status));
    return { signature: data.signature, keyVersion: data.key_version };
  }

  /** Verifies a signature (`vault:vN:…`) or an HMAC (`hmac: true`). */
  async verify(
    keyName: string,
    input: TransitInput,
    signature: string,
    options: TransitMountOptions & {
      hmac?: boolean;
      hashAlgorithm?: string;
      signatureAlgorithm?: string;
      prehashed?: boolean;
      marshalingAlgorithm?: 'asn1' | 'jws';
    } = {},
  ): Promise<boolean> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/verify/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: {
        input: b64(input),
        [options.hmac ? 'hmac' : 'signature']: signature,
        hash_algorithm: options.hashAlgorithm,
        signature_algorithm: options.signatureAlgorithm,
        prehashed: options.prehashed,
        marshaling_algorithm: options.marshalingAlgorithm,
      },
      template: `${mount}/verify/:key`,
    });
    return parseResponse(dataWith({ valid: strictBoolean }), res.body, answerOf(path, res.status)).data.valid;
  }

  /** HMAC of `input` (`vault:vN:…`). */
  async hmac(
    keyName: string,
    input: TransitInput,
    options: TransitMountOptions & { algorithm?: string; keyVersion?: number } = {},
  ): Promise<string> {
    const { mount, key } = this.#target(keyName, options);
    const path = `${mount}/hmac/${key}`;
    const res = await this.#vault.request('POST', path, {
      body: { input: b64(input), algorithm: options.algorithm, key_version: options.keyVersion },
      template: `${mount}/hmac/:key`,
    });
    return parseResponse(dataWith({ hmac: text }), res.body, answerOf(path, res.status)).data.hmac;
  }

  async #batch<V>(
    op: 'encrypt' | 'decrypt' | 'rewrap',
    keyName: string,
    items: Array<Record<string, unknown>>,
    options: TransitBatchOptions,
    map: (wire: BatchItemWire) => V,
  ): Promise<Array<TransitItemResult<V>>> {
    const { mount, key } = this.#target(keyName, options);
    const size = options.batchSize ?? TRANSIT_BATCH_SIZE;
    if (!Number.isInteger(size) || size <= 0) {
      throw new VaultError(VaultErrorCode.CONFIG, 'Invalid option "batchSize": must be a positive integer.');
    }
    const path = `${mount}/${op}/${key}`;
    const results: Array<TransitItemResult<V>> = [];
    for (let start = 0; start < items.length; start += size) {
      const chunk = items.slice(start, start + size).map((i) => dropUndefined(i));
      const res = await this.#vault.request('POST', path, {
        body: { batch_input: chunk, key_version: options.keyVersion },
        acceptStatus: [400],
        template: `${mount}/${op}/:key`,
      });
      // A 400 carries batch_results when single items failed, only errors when the whole request did.
      if (res.status === 400 && !batchAnswer.safeParse(res.body).success) {
        throw errorFromResponse(400, errorsOf(res.body), 'POST', path);
      }
      const wire = parseResponse(batchAnswer, res.body, answerOf(path, res.status)).data.batch_results;
      if (wire.length !== chunk.length) {
        throw new VaultError(
          VaultErrorCode.INVALID_RESPONSE,
          `POST ${path} returned ${wire.length} batch results for ${chunk.length} items`,
          { path, method: 'POST' },
        );
      }
      wire.forEach((w, i) => {
        const reference = w.reference ?? (chunk[i]?.reference as string | undefined);
        if (w.error) {
          results.push({
            ok: false,
            reference,
            error: new VaultError(VaultErrorCode.BAD_REQUEST, `${op} item ${start + i} failed: ${w.error}`, {
              status: res.status,
              errors: [w.error],
              method: 'POST',
              path,
            }),
          });
        } else {
          results.push({ ok: true, reference, ...map(w) });
        }
      });
    }
    return results;
  }

  #target(name: string, options: TransitMountOptions): { mount: string; key: string } {
    return { mount: checkMount(options.mount ?? 'transit', 'mount'), key: checkName(name, 'key') };
  }
}

function common(options: TransitCryptOptions): Record<string, unknown> {
  return dropUndefined({
    context: optB64(options.context),
    key_version: options.keyVersion,
    associated_data: optB64(options.associatedData),
  });
}

function b64(input: TransitInput): string {
  const raw = Redacted.isRedacted(input) ? (input as Redacted<string | Uint8Array>).reveal() : input;
  if (typeof raw === 'string') return Buffer.from(raw, 'utf8').toString('base64');
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString('base64');
  throw new VaultError(
    VaultErrorCode.CONFIG,
    'Invalid transit input: must be a string, a Uint8Array or Redacted.',
  );
}

function optB64(value: string | Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : b64(value);
}

function checkCiphertext(ciphertext: string): string {
  if (typeof ciphertext !== 'string' || !ciphertext.startsWith('vault:')) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'Invalid ciphertext: must be a "vault:vN:…" string from encrypt().',
    );
  }
  return ciphertext;
}

function ciphertextFrom(data: { ciphertext: string; key_version?: number | undefined }): Ciphertext {
  return { ciphertext: data.ciphertext, keyVersion: data.key_version };
}

function answerOf(path: string, status: number): AnswerOf {
  return { method: 'POST', path, status };
}

function errorsOf(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
}

function dropUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
