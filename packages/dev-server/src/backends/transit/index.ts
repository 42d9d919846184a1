/**
 * Vault's transit secrets engine, in memory: named keys (create/read/list/delete/config/rotate/export),
 * encrypt/decrypt/rewrap (single and batch), data keys, sign/verify, HMAC, random bytes and hashing.
 *
 * Wire behaviour follows Vault's transit API (https://developer.hashicorp.com/vault/api-docs/secret/transit):
 * `vault:vN:` ciphertexts with base64(nonce ‖ ct ‖ tag)
 * (https://github.com/hashicorp/vault/blob/main/sdk/helper/keysutil/policy.go), Vault's error texts, and its batch
 * status rules (any user error → whole envelope 400 with `batch_results`; `partial_failure_response_code` overrides
 * it when at least one item succeeded).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  type Backend,
  type BackendContext,
  type BackendFactory,
  compilePattern,
  type FieldData,
  getBool,
  getDuration,
  getInt,
  getString,
  has,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  listResponse,
  NAME_PATTERN,
  Router,
} from '../../sdk/index.js';
import { Base64Error, decodeBase64Std, encodeBase64Std } from '../../util/base64.js';
import {
  BackupFormatError,
  capabilities,
  HASH_ALGORITHMS,
  isKeyType,
  type KeyType,
  safeEqual,
  TransitKey,
  UserError,
} from './keys.js';

const NAME = NAME_PATTERN;
const KEY_PATH = compilePattern('keys/:name');
const ENCRYPT_PATH = compilePattern('encrypt/:name');

type Data = Record<string, unknown>;

/** One item of a `batch_input` array (Vault's `BatchRequestItem`, weakly decoded). */
interface BatchItem {
  plaintext: string;
  ciphertext: string;
  context: string;
  keyVersion: number;
  associatedData: string;
  reference: string;
  input: string | undefined;
  signature: string | undefined;
  hmac: string | undefined;
}

function parseBatch(raw: unknown): BatchItem[] {
  if (!Array.isArray(raw))
    throw new LogicalError(400, 'failed to parse batch input: batch_input must be a list of objects');
  return raw.map((item, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new LogicalError(400, `failed to parse batch input: batch_input[${index}] must be an object`);
    return singleItem(item as Data);
  });
}

/** One item from a request body or a `batch_input` element (Vault's weak decoding). */
function singleItem(data: Data): BatchItem {
  const optional = (field: string) => (has(data, field) ? (getString(data, field) ?? '') : undefined);
  return {
    plaintext: getString(data, 'plaintext') ?? '',
    ciphertext: getString(data, 'ciphertext') ?? '',
    context: getString(data, 'context') ?? '',
    keyVersion: getInt(data, 'key_version') ?? 0,
    associatedData: getString(data, 'associated_data') ?? '',
    reference: getString(data, 'reference') ?? '',
    input: optional('input'),
    signature: optional('signature'),
    hmac: optional('hmac'),
  };
}

/** Vault's `batchRequestResponse`: 400 on any user error (500 on internal), overridable on partial success. */
function batchStatus(
  data: Data,
  response: LogicalResponse,
  flags: { successes: boolean; userError: boolean; internalError: boolean },
): LogicalResponse {
  if (!flags.userError && !flags.internalError) return response;
  let code = flags.userError ? 400 : 500;
  if (has(data, 'partial_failure_response_code') && flags.successes) {
    const requested = getInt(data, 'partial_failure_response_code') ?? 0;
    if (requested < 1 || requested > 599) {
      response.warnings = [
        ...(response.warnings ?? []),
        `invalid HTTP response code override from partial_failure_response_code, reverting to ${code}`,
      ];
    } else {
      code = requested;
    }
  }
  return { ...response, statusCode: code };
}

function decodeContext(context: string): Buffer | undefined {
  return context === '' ? undefined : decodeBase64Std(context);
}

const badRequest = (message: string) => new LogicalError(400, message);

type CipherResult = { ciphertext?: string; key_version?: number; error?: string; reference: string };
type PlainResult = { plaintext: string; error?: string; reference: string };
type SignResult = {
  signature?: string;
  key_version: number;
  publickey?: string;
  error?: string;
  reference: string;
};
type ValidResult = { valid: boolean; error?: string; reference: string };
type HmacResult = { hmac?: string; error?: string; reference: string };

/** `batch_input` items, or the single item built by `single` (which may throw a request-level 400). */
function collectItems(data: Data, single: () => BatchItem): { isBatch: boolean; items: BatchItem[] } {
  if (!has(data, 'batch_input')) return { isBatch: false, items: [single()] };
  const items = parseBatch(data.batch_input);
  if (items.length === 0) throw badRequest('missing batch input to process');
  return { isBatch: true, items };
}

/** Vault's rule: `context` must be set in all items or in none. Returns whether it is set. */
function checkContexts(items: readonly BatchItem[]): boolean {
  const contextSet = (items[0] as BatchItem).context !== '';
  for (const item of items) {
    if ((item.context !== '') !== contextSet)
      throw badRequest('context should be set either in all the request blocks or in none');
  }
  return contextSet;
}

/**
 * Runs `work` for every item that has no error yet; a {@link UserError} (or a Go-style base64 error) becomes the
 * item's `error`. Returns whether any item succeeded / failed here.
 */
function forEachItem<R extends { error?: string }>(
  items: readonly BatchItem[],
  results: R[],
  work: (item: BatchItem, result: R, index: number) => void,
): { successes: boolean; userError: boolean } {
  let successes = false;
  let userError = false;
  for (const [i, item] of items.entries()) {
    const result = results[i] as R;
    if (result.error !== undefined) continue;
    try {
      work(item, result, i);
      successes = true;
    } catch (error) {
      if (!(error instanceof UserError) && !(error instanceof Base64Error)) throw error;
      userError = true;
      result.error = error.message;
    }
  }
  return { successes, userError };
}

/** The batch envelope, or the single item's fields (its error as a plain 400). */
function finish<R extends { error?: string }>(
  isBatch: boolean,
  results: R[],
  pick: (result: R) => Data,
): LogicalResponse {
  if (isBatch) return { data: { batch_results: results } };
  const result = results[0] as R;
  if (result.error !== undefined) throw badRequest(result.error);
  return { data: pick(result) };
}

/** Decodes a sign/verify/hmac item's `input` and `context` with Vault's per-item error texts. */
function decodeSigningInput(
  item: BatchItem,
  missing: string,
): { input: Buffer; context: Buffer | undefined } {
  if (item.input === undefined) throw new UserError(missing);
  let input: Buffer;
  try {
    input = decodeBase64Std(item.input);
  } catch (error) {
    throw new UserError(`unable to decode input as base64: ${(error as Error).message}`);
  }
  try {
    return { input, context: decodeContext(item.context) };
  } catch {
    throw new UserError('failed to base64-decode context');
  }
}

function resolveHash(name: string): string {
  const hash = HASH_ALGORITHMS[name];
  if (!hash) throw badRequest(`invalid hash algorithm "${name}"`);
  return hash;
}

/** The in-memory transit engine. Construct through {@link transitBackendFactory} or {@link createTransitBackend}. */
export class TransitBackend implements Backend {
  readonly type = 'transit';
  private readonly keys = new Map<string, TransitKey>();
  private readonly creating = new Map<string, Promise<TransitKey>>();
  private readonly context: BackendContext;

  constructor(context: BackendContext) {
    this.context = context;
  }

  async exists(request: LogicalRequest): Promise<boolean> {
    const match = KEY_PATH.exec(request.path) ?? ENCRYPT_PATH.exec(request.path);
    if (!match) return true;
    return this.keys.has(match.groups?.name ?? '');
  }

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    try {
      return await this.route(request);
    } catch (error) {
      if (error instanceof LogicalError) throw error;
      if (error instanceof UserError) throw badRequest(error.message);
      if (error instanceof Error && error.name === 'Base64Error') throw badRequest(error.message);
      this.context.log('error', 'transit: unexpected error', { path: request.path, error: String(error) });
      throw new LogicalError(500, 'internal error');
    }
  }

  /** Vault's transit paths (https://github.com/hashicorp/vault/tree/main/builtin/logical/transit). */
  private readonly router = new Router([
    {
      pattern: /^keys\/?$/,
      operations: {
        list: () => {
          const names = [...this.keys.keys()].sort();
          return names.length ? listResponse(names) : null;
        },
      },
    },
    {
      pattern: 'keys/:name',
      operations: {
        read: (r, { name = '' }) => this.readKey(name, r.data),
        update: (r, { name = '' }) => this.createKey(name, r.data),
        delete: (_r, { name = '' }) => this.deleteKey(name),
      },
    },
    {
      pattern: new RegExp(
        `^export/(?<type>encryption-key|signing-key|hmac-key|public-key)/(?<name>${NAME})(?:/(?<version>[^/]+))?$`,
      ),
      operations: { read: (_r, { type = '', name = '', version }) => this.exportKey(type, name, version) },
    },
    {
      pattern: 'keys/:name/config',
      operations: { update: (r, { name = '' }) => this.configKey(name, r.data) },
    },
    {
      pattern: 'keys/:name/rotate',
      operations: {
        update: async (_r, { name = '' }) => {
          const key = await this.getKey(name);
          if (!key) throw badRequest('key not found');
          await key.rotate(this.context.now());
          return { data: key.toResponse() };
        },
      },
    },
    {
      pattern: 'keys/:name/trim',
      fields: { min_available_version: { type: 'int' } },
      operations: { update: (_r, { name = '' }, fields) => this.trimKey(name, fields) },
    },
    { pattern: 'backup/:name', operations: { read: (_r, { name = '' }) => this.backupKey(name) } },
    {
      // Vault's `"restore" + framework.OptionalParamRegex("name")`: the name may hold any character.
      pattern: /^restore(?:\/(?<name>.+))?$/s,
      fields: {
        backup: { type: 'string' },
        name: { type: 'string' },
        force: { type: 'bool', default: false },
      },
      operations: { update: (_r, _params, fields) => this.restoreKey(fields) },
    },
    { pattern: 'encrypt/:name', operations: { update: (r, { name = '' }) => this.encrypt(name, r.data) } },
    { pattern: 'decrypt/:name', operations: { update: (r, { name = '' }) => this.decrypt(name, r.data) } },
    { pattern: 'rewrap/:name', operations: { update: (r, { name = '' }) => this.rewrap(name, r.data) } },
    {
      pattern: new RegExp(`^datakey/(?<plaintext>[^/]+)/(?<name>${NAME})$`),
      operations: { update: (r, { plaintext = '', name = '' }) => this.datakey(plaintext, name, r.data) },
    },
    {
      pattern: new RegExp(`^sign/(?<name>${NAME})(?:/(?<algorithm>[^/]+))?$`),
      operations: { update: (r, { name = '', algorithm }) => this.sign(name, algorithm, r.data) },
    },
    {
      pattern: new RegExp(`^verify/(?<name>${NAME})(?:/(?<algorithm>[^/]+))?$`),
      operations: { update: (r, { name = '', algorithm }) => this.verify(name, algorithm, r.data) },
    },
    {
      pattern: new RegExp(`^hmac/(?<name>${NAME})(?:/(?<algorithm>[^/]+))?$`),
      operations: { update: (r, { name = '', algorithm }) => this.hmac(name, algorithm, r.data) },
    },
    {
      pattern: /^random(?:\/(?<source>platform|seal|all))?(?:\/(?<bytes>\d+))?$/,
      operations: { update: (r, { bytes }) => this.random(bytes, r.data) },
    },
    {
      pattern: /^hash(?:\/(?<algorithm>[^/]+))?$/,
      operations: { update: (r, { algorithm }) => this.hash(algorithm, r.data) },
    },
  ]);

  private route(request: LogicalRequest): Promise<LogicalResponse | null> {
    return this.router.dispatch(request);
  }

  /** Looks a key up, applying a due auto-rotation first. */
  private async getKey(name: string): Promise<TransitKey | undefined> {
    const pending = this.creating.get(name);
    if (pending) await pending;
    const key = this.keys.get(name);
    if (key) await key.autoRotateIfDue(this.context.now());
    return key;
  }

  /**
   * Returns the existing key or creates it. The existence check and the registration of the pending creation happen
   * synchronously, so concurrent upserts of one name (e.g. parallel encrypts on a fresh key) share a single key.
   */
  private async createStored(
    name: string,
    options: Parameters<typeof TransitKey.create>[1],
  ): Promise<{ key: TransitKey; created: boolean }> {
    const existing = this.keys.get(name);
    if (existing) return { key: existing, created: false };
    const pending = this.creating.get(name);
    if (pending) return { key: await pending, created: false };
    const promise = TransitKey.create(name, options, this.context.now()).then((key) => {
      this.keys.set(name, key);
      return key;
    });
    this.creating.set(name, promise);
    try {
      return { key: await promise, created: true };
    } finally {
      this.creating.delete(name);
    }
  }

  private async readKey(name: string, data: Data): Promise<LogicalResponse | null> {
    const key = await this.getKey(name);
    if (!key) return null;
    let context: Buffer | undefined;
    try {
      context = decodeContext(getString(data, 'context') ?? '');
    } catch {
      throw badRequest('failed to base64-decode context');
    }
    return { data: key.toResponse(context) };
  }

  private async createKey(name: string, data: Data): Promise<LogicalResponse> {
    const typeName = (getString(data, 'type') ?? 'aes256-gcm96') || 'aes256-gcm96';
    const derived = getBool(data, 'derived') ?? false;
    const convergent = getBool(data, 'convergent_encryption') ?? false;
    const autoRotatePeriod = getDuration(data, 'auto_rotate_period') ?? 0;
    if (autoRotatePeriod !== 0 && autoRotatePeriod < 3600)
      throw badRequest('auto rotate period must be 0 to disable or at least an hour');
    if (!derived && convergent) throw badRequest('convergent encryption requires derivation to be enabled');
    if (!isKeyType(typeName)) throw badRequest(`unknown key type ${typeName}`);
    if ((getInt(data, 'key_size') ?? 0) !== 0)
      throw badRequest(`key_size is not valid for algorithm ${typeName}`);
    checkDerivation(typeName, derived, convergent);
    const { key, created } = await this.createStored(name, {
      type: typeName,
      derived,
      convergent,
      exportable: getBool(data, 'exportable') ?? false,
      allowPlaintextBackup: getBool(data, 'allow_plaintext_backup') ?? false,
      autoRotatePeriod,
    });
    const response: LogicalResponse = { data: key.toResponse() };
    if (!created) response.warnings = [`key ${name} already existed`];
    return response;
  }

  private async deleteKey(name: string): Promise<null> {
    const key = await this.getKey(name);
    if (!key) throw badRequest(`error deleting policy ${name}: could not delete policy; not found`);
    if (!key.deletionAllowed)
      throw badRequest(`error deleting policy ${name}: deletion is not allowed for this key`);
    this.keys.delete(name);
    return null;
  }

  /** `keys/:name/trim` (https://github.com/hashicorp/vault/blob/main/builtin/logical/transit/path_trim.go). */
  private async trimKey(name: string, fields: FieldData): Promise<LogicalResponse> {
    const key = await this.getKey(name);
    if (!key) throw badRequest('invalid key name');
    const minAvailableVersion = fields.getOk<number>('min_available_version');
    if (minAvailableVersion === undefined) throw badRequest('missing min_available_version');
    key.trim(minAvailableVersion);
    return { data: key.toResponse() };
  }

  /**
   * `backup/:name` (https://github.com/hashicorp/vault/blob/main/builtin/logical/transit/path_backup.go). Vault
   * returns these failures as plain errors, so they are 500s, as in Vault.
   */
  private async backupKey(name: string): Promise<LogicalResponse> {
    const key = await this.getKey(name);
    if (!key) throw new LogicalError(500, `key "${name}" not found`);
    if (!key.exportable) throw new LogicalError(500, 'exporting is disallowed on the policy');
    if (!key.allowPlaintextBackup)
      throw new LogicalError(500, 'plaintext backup is disallowed on the policy');
    key.backupInfo = { time: this.context.now(), version: key.latestVersion };
    const document = JSON.stringify(key.toBackup());
    return { data: { backup: encodeBase64Std(Buffer.from(document, 'utf8')) } };
  }

  /**
   * `restore` and `restore/:name` (https://github.com/hashicorp/vault/blob/main/builtin/logical/transit/path_restore.go
   * and `LockManager.RestorePolicy` in sdk/helper/keysutil/lock_manager.go): 204 on success; a missing `backup` is a
   * 400, the lock manager's failures are 500s as in Vault.
   */
  private async restoreKey(fields: FieldData): Promise<null> {
    const backup = fields.get<string>('backup');
    const force = fields.get<boolean>('force');
    if (backup === '') throw badRequest("'backup' must be supplied");
    const name = fields.get<string>('name');
    if (name.includes('/')) throw new LogicalError(500, 'key names cannot be paths');
    let document: unknown;
    try {
      document = JSON.parse(decodeBase64Std(backup).toString('utf8'));
    } catch (error) {
      throw new LogicalError(
        500,
        error instanceof Base64Error ? error.message : 'invalid backup: the decoded backup is not JSON',
      );
    }
    let key: TransitKey;
    try {
      key = TransitKey.fromBackup(document, name);
    } catch (error) {
      if (error instanceof BackupFormatError) throw new LogicalError(500, error.message);
      throw error;
    }
    const pending = this.creating.get(key.name);
    if (pending) await pending;
    if (this.keys.has(key.name) && !force) throw new LogicalError(500, `key "${key.name}" already exists`);
    key.restoreInfo = { time: this.context.now(), version: key.latestVersion };
    this.keys.set(key.name, key);
    return null;
  }

  private async configKey(name: string, data: Data): Promise<LogicalResponse> {
    const key = await this.getKey(name);
    if (!key) throw badRequest(`no existing key named ${name} could be found`);
    const original = {
      minDecryptionVersion: key.minDecryptionVersion,
      minEncryptionVersion: key.minEncryptionVersion,
      deletionAllowed: key.deletionAllowed,
      exportable: key.exportable,
      allowPlaintextBackup: key.allowPlaintextBackup,
      autoRotatePeriod: key.autoRotatePeriod,
    };
    const warnings: string[] = [];
    try {
      if (has(data, 'min_decryption_version')) {
        let min = getInt(data, 'min_decryption_version') ?? 0;
        if (min < 0) throw badRequest('min decryption version cannot be negative');
        if (min === 0) {
          min = 1;
          warnings.push('since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1');
        }
        if (min !== key.minDecryptionVersion) {
          if (min > key.latestVersion)
            throw badRequest(
              `cannot set min decryption version of ${min}, latest key version is ${key.latestVersion}`,
            );
          key.minDecryptionVersion = min;
        }
      }
      if (has(data, 'min_encryption_version')) {
        const min = getInt(data, 'min_encryption_version') ?? 0;
        if (min < 0) throw badRequest('min encryption version cannot be negative');
        if (min !== key.minEncryptionVersion) {
          if (min > key.latestVersion)
            throw badRequest(
              `cannot set min encryption version of ${min}, latest key version is ${key.latestVersion}`,
            );
          key.minEncryptionVersion = min;
        }
      }
      if (key.minEncryptionVersion > 0 && key.minEncryptionVersion < key.minDecryptionVersion)
        throw badRequest(
          `cannot set min encryption/decryption values; min encryption version of ${key.minEncryptionVersion} must be greater than or equal to min decryption version of ${key.minDecryptionVersion}`,
        );
      if (has(data, 'deletion_allowed')) key.deletionAllowed = getBool(data, 'deletion_allowed') ?? false;
      if (has(data, 'exportable') && (getBool(data, 'exportable') ?? false)) key.exportable = true;
      if (has(data, 'allow_plaintext_backup') && (getBool(data, 'allow_plaintext_backup') ?? false))
        key.allowPlaintextBackup = true;
      if (has(data, 'auto_rotate_period')) {
        const period = getDuration(data, 'auto_rotate_period') ?? 0;
        if (period !== 0 && period < 3600)
          throw badRequest('auto rotate period must be 0 to disable or at least an hour');
        key.autoRotatePeriod = period;
      }
    } catch (error) {
      Object.assign(key, original);
      throw error;
    }
    const response: LogicalResponse = { data: key.toResponse() };
    if (warnings.length) response.warnings = warnings;
    return response;
  }

  private async encrypt(name: string, data: Data): Promise<LogicalResponse> {
    const { isBatch, items } = collectItems(data, () => {
      if (!has(data, 'plaintext')) throw badRequest('missing plaintext to encrypt');
      return singleItem(data);
    });
    const contextSet = checkContexts(items);
    const results: CipherResult[] = items.map((item) => ({ reference: item.reference }));
    const contexts: (Buffer | undefined)[] = [];
    let userError = false;
    for (const [i, item] of items.entries()) {
      try {
        decodeBase64Std(item.plaintext);
        contexts[i] = decodeContext(item.context);
      } catch (error) {
        userError = true;
        (results[i] as CipherResult).error = (error as Error).message;
      }
    }

    let key = await this.getKey(name);
    let upsertWarning: string | undefined;
    if (!key) {
      const convergent = getBool(data, 'convergent_encryption') ?? false;
      if (convergent && !contextSet)
        throw badRequest('convergent encryption requires derivation to be enabled, so context is required');
      const typeName = (getString(data, 'type') ?? 'aes256-gcm96') || 'aes256-gcm96';
      if (typeName.startsWith('ecdsa-') || typeName === 'ed25519' || typeName.startsWith('rsa-'))
        throw badRequest(`key type ${typeName} not supported for this operation`);
      if (!isKeyType(typeName)) throw badRequest(`unknown key type ${typeName}`);
      checkDerivation(typeName, contextSet, convergent);
      const created = await this.createStored(name, {
        type: typeName,
        derived: contextSet,
        convergent,
        exportable: false,
        allowPlaintextBackup: false,
        autoRotatePeriod: 0,
      });
      key = created.key;
      if (!created.created)
        upsertWarning =
          'Attempted creation of the key during the encrypt operation, but it was created beforehand';
    }

    const encryptionKey = key;
    const outcome = forEachItem(items, results, (item, result, i) => {
      const associatedData = this.associatedData(encryptionKey, item.associatedData, isBatch ? i : undefined);
      const out = encryptionKey.encrypt(item.plaintext, {
        version: item.keyVersion,
        context: contexts[i],
        associatedData,
      });
      result.ciphertext = out.ciphertext;
      result.key_version = out.version;
    });
    const response = finish(isBatch, results, (r) => ({
      ciphertext: r.ciphertext,
      key_version: r.key_version,
    }));
    if (upsertWarning) response.warnings = [upsertWarning];
    return batchStatus(data, response, {
      ...outcome,
      userError: userError || outcome.userError,
      internalError: false,
    });
  }

  private associatedData(key: TransitKey, encoded: string, index: number | undefined): Buffer | undefined {
    if (encoded === '') return undefined;
    if (!capabilities(key.type).associatedData) {
      const prefix = index === undefined ? "'associated_data'" : `'[${index}].associated_data'`;
      throw new UserError(`${prefix} provided for non-AEAD cipher suite ${key.type}`);
    }
    return decodeBase64Std(encoded);
  }

  /** Shared first pass of decrypt and rewrap: missing ciphertexts and bad contexts become item errors. */
  private ciphertextItems<R extends { error?: string }>(
    data: Data,
    fresh: (item: BatchItem) => R,
  ): {
    isBatch: boolean;
    items: BatchItem[];
    results: R[];
    contexts: (Buffer | undefined)[];
    userError: boolean;
  } {
    const { isBatch, items } = collectItems(data, () => {
      if ((getString(data, 'ciphertext') ?? '') === '') throw badRequest('missing ciphertext to decrypt');
      return singleItem(data);
    });
    checkContexts(items);
    const results = items.map(fresh);
    const contexts: (Buffer | undefined)[] = [];
    for (const [i, item] of items.entries()) {
      const result = results[i] as R;
      if (item.ciphertext === '') {
        result.error = 'missing ciphertext to decrypt';
        continue;
      }
      try {
        contexts[i] = decodeContext(item.context);
      } catch (error) {
        result.error = (error as Error).message;
      }
    }
    return { isBatch, items, results, contexts, userError: results.some((r) => r.error !== undefined) };
  }

  private async decrypt(name: string, data: Data): Promise<LogicalResponse> {
    const prepared = this.ciphertextItems(
      data,
      (item): PlainResult => ({ plaintext: '', reference: item.reference }),
    );
    const { isBatch, items, results, contexts } = prepared;
    const key = await this.getKey(name);
    if (!key) throw badRequest('encryption key not found');
    const outcome = forEachItem(items, results, (item, result, i) => {
      const associatedData = this.associatedData(key, item.associatedData, isBatch ? i : undefined);
      result.plaintext = key.decrypt(item.ciphertext, { context: contexts[i], associatedData }).plaintext;
    });
    const response = finish(isBatch, results, (r) => ({ plaintext: r.plaintext }));
    return batchStatus(data, response, {
      ...outcome,
      userError: prepared.userError || outcome.userError,
      internalError: false,
    });
  }

  private async rewrap(name: string, data: Data): Promise<LogicalResponse> {
    const { isBatch, items, results, contexts } = this.ciphertextItems(
      data,
      (item): CipherResult => ({ reference: item.reference }),
    );
    const key = await this.getKey(name);
    if (!key) throw badRequest('encryption key not found');
    forEachItem(items, results, (item, result, i) => {
      const { plaintext } = key.decrypt(item.ciphertext, { context: contexts[i], associatedData: undefined });
      const out = key.encrypt(plaintext, {
        version: item.keyVersion,
        context: contexts[i],
        associatedData: undefined,
      });
      result.ciphertext = out.ciphertext;
      result.key_version = out.version;
    });
    // Rewrap keeps 200 with per-item errors for batches, as Vault's rewrap handler does.
    return finish(isBatch, results, (r) => ({ ciphertext: r.ciphertext, key_version: r.key_version }));
  }

  private async datakey(kind: string, name: string, data: Data): Promise<LogicalResponse> {
    if (kind !== 'plaintext' && kind !== 'wrapped')
      throw badRequest("Invalid path, must be 'plaintext' or 'wrapped'");
    let context: Buffer | undefined;
    try {
      context = decodeContext(getString(data, 'context') ?? '');
    } catch {
      throw badRequest('failed to base64-decode context');
    }
    const key = await this.getKey(name);
    if (!key) throw badRequest('encryption key not found');
    const bits = getInt(data, 'bits') ?? 256;
    if (bits !== 128 && bits !== 256 && bits !== 512) throw badRequest('invalid bit length');
    const material = randomBytes(bits / 8);
    const associatedData = this.associatedData(key, getString(data, 'associated_data') ?? '', undefined);
    const plaintext = encodeBase64Std(material);
    const out = key.encrypt(plaintext, {
      version: getInt(data, 'key_version') ?? 0,
      context,
      associatedData,
    });
    const result: Data = { ciphertext: out.ciphertext, key_version: out.version };
    if (kind === 'plaintext') result.plaintext = plaintext;
    return { data: result };
  }

  private signingOptions(urlAlgorithm: string | undefined, data: Data) {
    const hashName =
      urlAlgorithm ||
      (getString(data, 'hash_algorithm') ?? '') ||
      (getString(data, 'algorithm') ?? '') ||
      'sha2-256';
    if (hashName === 'none')
      throw badRequest('hash_algorithm=none is not supported by the Leasehold dev server');
    const hash = resolveHash(hashName);
    const marshalingName = (getString(data, 'marshaling_algorithm') ?? 'asn1') || 'asn1';
    if (marshalingName !== 'asn1' && marshalingName !== 'jws')
      throw badRequest(`invalid marshaling type "${marshalingName}"`);
    if (getBool(data, 'prehashed') ?? false)
      throw badRequest('prehashed=true is not supported by the Leasehold dev server');
    const saltRaw = (getString(data, 'salt_length') ?? 'auto') || 'auto';
    let saltLength: number | 'auto' | 'hash';
    if (saltRaw === 'auto' || saltRaw === 'hash') saltLength = saltRaw;
    else if (/^\d+$/.test(saltRaw)) saltLength = Number.parseInt(saltRaw, 10);
    else throw badRequest(`salt length value must be an integer >= 0, "auto", or "hash", got ${saltRaw}`);
    return {
      hash,
      marshaling: marshalingName as 'asn1' | 'jws',
      signatureAlgorithm: getString(data, 'signature_algorithm') ?? '',
      saltLength,
    };
  }

  private async sign(name: string, urlAlgorithm: string | undefined, data: Data): Promise<LogicalResponse> {
    const options = this.signingOptions(urlAlgorithm, data);
    const key = await this.getKey(name);
    if (!key) throw badRequest('signing key not found');
    if (!capabilities(key.type).signing) throw badRequest(`key type ${key.type} does not support signing`);
    const { isBatch, items } = collectItems(data, () => ({
      ...singleItem(data),
      input: getString(data, 'input') ?? '',
    }));
    const version = getInt(data, 'key_version') ?? 0;
    const results: SignResult[] = items.map((item) => ({ key_version: 0, reference: item.reference }));
    forEachItem(items, results, (item, result) => {
      const { input, context } = decodeSigningInput(item, 'missing input');
      const out = key.sign(input, { ...options, version, context });
      result.signature = out.signature;
      result.key_version = out.version;
      if (out.publicKey) result.publickey = encodeBase64Std(out.publicKey);
    });
    return finish(isBatch, results, (r) => ({
      signature: r.signature,
      key_version: r.key_version,
      ...(r.publickey ? { public_key: r.publickey } : {}),
    }));
  }

  private async verify(name: string, urlAlgorithm: string | undefined, data: Data): Promise<LogicalResponse> {
    const { isBatch, items } = collectItems(data, () => ({
      ...singleItem(data),
      input: getString(data, 'input') ?? '',
    }));
    let sigFound = false;
    let hmacFound = false;
    let missing = false;
    for (const item of items) {
      if (item.signature !== undefined) sigFound = true;
      else if (item.hmac !== undefined) hmacFound = true;
      else missing = true;
    }
    if (!isBatch && sigFound && has(data, 'hmac')) throw badRequest("provide one of 'signature' or 'hmac'");
    if (!isBatch && !sigFound && !hmacFound)
      throw badRequest("neither a 'signature' nor an 'hmac' were given to verify");
    if (sigFound && hmacFound)
      throw badRequest("elements of batch_input must all provide 'signature' or all provide 'hmac'");
    if (missing && sigFound) throw badRequest("some elements of batch_input are missing 'signature'");
    if (missing && hmacFound) throw badRequest("some elements of batch_input are missing 'hmac'");
    if (missing) throw badRequest("no batch_input elements have 'signature' or 'hmac'");
    if (hmacFound) return this.verifyHmac(name, urlAlgorithm, data, items, isBatch);

    const options = this.signingOptions(urlAlgorithm, data);
    const key = await this.getKey(name);
    if (!key) throw badRequest('signature verification key not found');
    if (!capabilities(key.type).signing)
      throw badRequest(`key type ${key.type} does not support verification`);
    const results: ValidResult[] = items.map((item) => ({ valid: false, reference: item.reference }));
    forEachItem(items, results, (item, result) => {
      const { input, context } = decodeSigningInput(item, 'missing input');
      result.valid = key.verify(input, item.signature ?? '', { ...options, context });
    });
    return finish(isBatch, results, (r) => ({ valid: r.valid }));
  }

  private async hmac(name: string, urlAlgorithm: string | undefined, data: Data): Promise<LogicalResponse> {
    const key = await this.getKey(name);
    if (!key) throw badRequest('encryption key not found');
    let version = getInt(data, 'key_version') ?? 0;
    if (version === 0) version = key.latestVersion;
    else if (
      version !== key.latestVersion &&
      key.minEncryptionVersion > 0 &&
      version < key.minEncryptionVersion
    )
      throw badRequest('cannot generate HMAC: version is too old (disallowed by policy)');
    let hmacKey: Buffer;
    try {
      hmacKey = key.hmacKey(version);
    } catch (error) {
      throw badRequest((error as Error).message);
    }
    const algorithmName = urlAlgorithm || (getString(data, 'algorithm') ?? '') || 'sha2-256';
    const hash = HASH_ALGORITHMS[algorithmName];
    if (!hash) throw badRequest(`unsupported algorithm "${algorithmName}"`);
    const { isBatch, items } = collectItems(data, () => {
      if (!has(data, 'input')) throw badRequest('missing input for HMAC');
      return singleItem(data);
    });
    const results: HmacResult[] = items.map((item) => ({ reference: item.reference }));
    forEachItem(items, results, (item, result) => {
      const { input } = decodeSigningInput(item, 'missing input for HMAC');
      result.hmac = `vault:v${version}:${encodeBase64Std(createHmac(hash, hmacKey).update(input).digest())}`;
    });
    return finish(isBatch, results, (r) => ({ hmac: r.hmac }));
  }

  private async verifyHmac(
    name: string,
    urlAlgorithm: string | undefined,
    data: Data,
    items: BatchItem[],
    isBatch: boolean,
  ): Promise<LogicalResponse> {
    const key = await this.getKey(name);
    if (!key) throw badRequest('encryption key not found');
    const algorithmName =
      urlAlgorithm ||
      (getString(data, 'hash_algorithm') ?? '') ||
      (getString(data, 'algorithm') ?? '') ||
      'sha2-256';
    const hash = resolveHash(algorithmName);
    const results: ValidResult[] = items.map((item) => ({ valid: false, reference: item.reference }));
    forEachItem(items, results, (item, result) => {
      const { input } = decodeSigningInput(item, 'missing input');
      const given = item.hmac ?? '';
      if (!given.startsWith('vault:v')) throw new UserError('invalid HMAC to verify: no prefix');
      const rest = given.slice('vault:v'.length);
      const colon = rest.indexOf(':');
      if (colon < 0) throw new UserError('invalid HMAC: wrong number of fields');
      const versionText = rest.slice(0, colon);
      if (!/^[+-]?\d+$/.test(versionText))
        throw new UserError('invalid HMAC: version number could not be decoded');
      const version = Number.parseInt(versionText, 10);
      let expected: Buffer;
      try {
        expected = decodeBase64Std(rest.slice(colon + 1));
      } catch (error) {
        throw new UserError(`unable to decode verification HMAC as base64: ${(error as Error).message}`);
      }
      if (version > key.latestVersion) throw new UserError('invalid HMAC: version is too new');
      if (key.minDecryptionVersion > 0 && version < key.minDecryptionVersion)
        throw new UserError('cannot verify HMAC: version is too old (disallowed by policy)');
      result.valid = safeEqual(createHmac(hash, key.hmacKey(version)).update(input).digest(), expected);
    });
    return finish(isBatch, results, (r) => ({ valid: r.valid }));
  }

  private async exportKey(
    kind: string,
    name: string,
    versionText: string | undefined,
  ): Promise<LogicalResponse | null> {
    const key = await this.getKey(name);
    if (!key) return null;
    const caps = capabilities(key.type);
    if (kind !== 'public-key' && !key.exportable) throw badRequest('private key material is not exportable');
    if (kind === 'encryption-key' && !caps.encryption)
      throw badRequest('encryption not supported for the key');
    if (kind === 'signing-key' && !caps.signing) throw badRequest('signing not supported for the key');
    if (kind === 'public-key' && !caps.signing) throw badRequest('public key not available for the key');
    let versions: number[];
    if (versionText === undefined || versionText === '') {
      versions = key.versionNumbers().filter((v) => v >= key.minDecryptionVersion);
    } else if (versionText === 'latest') {
      versions = [key.latestVersion];
    } else if (/^\d+$/.test(versionText)) {
      const version = Number.parseInt(versionText, 10);
      if (version < key.minDecryptionVersion || version > key.latestVersion)
        throw badRequest('version not found or is below the minimum decryption version');
      versions = [version];
    } else {
      throw badRequest('invalid key version');
    }
    const keys: Record<string, string> = {};
    for (const version of versions)
      keys[String(version)] = key.exportKey(
        kind as 'encryption-key' | 'signing-key' | 'hmac-key' | 'public-key',
        version,
      );
    return { data: { name: key.name, type: key.type, keys } };
  }

  private random(urlBytes: string | undefined, data: Data): LogicalResponse {
    const bytes = urlBytes ? Number.parseInt(urlBytes, 10) : (getInt(data, 'bytes') ?? 32);
    if (bytes < 1 || bytes > 128 * 1024) throw badRequest('the number of bytes must be between 1 and 131072');
    const format = (getString(data, 'format') ?? 'base64') || 'base64';
    if (format !== 'base64' && format !== 'hex')
      throw badRequest(`unsupported encoding format ${format}; must be "hex" or "base64"`);
    return { data: { random_bytes: randomBytes(bytes).toString(format) } };
  }

  private hash(urlAlgorithm: string | undefined, data: Data): LogicalResponse {
    const input = getString(data, 'input') ?? '';
    const format = (getString(data, 'format') ?? 'hex') || 'hex';
    if (format !== 'hex' && format !== 'base64')
      throw badRequest(`unsupported encoding format ${format}; must be "hex" or "base64"`);
    const algorithmName = urlAlgorithm || (getString(data, 'algorithm') ?? '') || 'sha2-256';
    const hash = HASH_ALGORITHMS[algorithmName];
    if (!hash) throw badRequest(`unsupported algorithm ${algorithmName}`);
    let decoded: Buffer;
    try {
      decoded = decodeBase64Std(input);
    } catch (error) {
      throw badRequest(`unable to decode input as base64: ${(error as Error).message}`);
    }
    return { data: { sum: createHash(hash).update(decoded).digest(format) } };
  }

  async close(): Promise<void> {
    this.keys.clear();
  }
}

/** Vault's upsert checks on derivation/convergence per key type (`lock_manager.GetPolicy`). */
function checkDerivation(type: KeyType, derived: boolean, convergent: boolean): void {
  if (type.startsWith('ecdsa-') || type.startsWith('rsa-')) {
    if (derived || convergent)
      throw badRequest(`key derivation and convergent encryption not supported for keys of type ${type}`);
  } else if (type === 'ed25519') {
    if (convergent) throw badRequest(`convergent encryption not supported for keys of type ${type}`);
  } else if (convergent && !derived) {
    throw badRequest('convergent encryption requires derivation to be enabled');
  }
}

/** Creates a transit backend for a mount. */
export function createTransitBackend(context: BackendContext): TransitBackend {
  return new TransitBackend(context);
}

/** {@link BackendFactory} for the `transit` mount type. */
export const transitBackendFactory: BackendFactory = (context) => createTransitBackend(context);
