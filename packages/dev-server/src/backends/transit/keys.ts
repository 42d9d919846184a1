/**
 * Transit named keys (Vault's `keysutil.Policy`): versioned key material in memory, and the cryptographic operations
 * on it with Vault's formats and error texts.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  constants as nodeCryptoConstants,
  sign as nodeSign,
  verify as nodeVerify,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';
import { LogicalError } from '../../sdk/index.js';
import { Base64Error, decodeBase64Std, encodeBase64Std } from '../../util/base64.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Key types this dev server supports (a subset of Vault's). */
export const KEY_TYPES = [
  'aes128-gcm96',
  'aes256-gcm96',
  'chacha20-poly1305',
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const isKeyType = (value: string): value is KeyType =>
  (KEY_TYPES as readonly string[]).includes(value);

/** Vault's `ErrTooOld`. */
export const ERR_TOO_OLD = 'ciphertext or signature version is disallowed by policy (too old)';
const ERR_MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

/** A user error (Vault's `errutil.UserError`): 400, and counted as a user error in batches. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Hash algorithms accepted by sign/verify/hmac (`hash_algorithm`), mapped to Node digest names. */
export const HASH_ALGORITHMS: Readonly<Record<string, string>> = {
  sha1: 'sha1',
  'sha2-224': 'sha224',
  'sha2-256': 'sha256',
  'sha2-384': 'sha384',
  'sha2-512': 'sha512',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
};

const isSymmetric = (type: KeyType): boolean =>
  type === 'aes128-gcm96' || type === 'aes256-gcm96' || type === 'chacha20-poly1305';
const isEcdsa = (type: KeyType): boolean => type.startsWith('ecdsa-');
const isRsa = (type: KeyType): boolean => type.startsWith('rsa-');

/** What each key type supports (Vault's `KeyType.*Supported`). */
export function capabilities(type: KeyType) {
  return {
    encryption: isSymmetric(type) || isRsa(type),
    decryption: isSymmetric(type) || isRsa(type),
    signing: type === 'ed25519' || isEcdsa(type) || isRsa(type),
    derivation: isSymmetric(type) || type === 'ed25519',
    associatedData: isSymmetric(type),
  };
}

interface KeyVersion {
  /** Symmetric key or ed25519 derivation seed (32 bytes) — for asymmetric keys, unused except ed25519 derivation. */
  readonly key: Buffer;
  /** Per-version HMAC key (Vault's `HMACKey`). */
  readonly hmacKey: Buffer;
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject | undefined;
  /** Creation time, ms since epoch. */
  readonly creationTime: number;
}

/** Options when creating a key. */
export interface KeyCreateOptions {
  type: KeyType;
  derived: boolean;
  convergent: boolean;
  exportable: boolean;
  allowPlaintextBackup: boolean;
  autoRotatePeriod: number;
}

/** HKDF-SHA256 (RFC 5869) with an empty salt and `info` = context, as Vault's `Kdf_hkdf_sha256`. */
function hkdfSha256(ikm: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = createHmac('sha256', prk)
      .update(Buffer.concat([previous, info, Buffer.from([i])]))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function ed25519FromSeed(seed: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Parsed `vault:vN:payload`. */
interface Versioned {
  version: number;
  payload: string;
}

function parseVersioned(value: string, what: 'ciphertext' | 'signature'): Versioned {
  if (!value.startsWith('vault:v')) throw new UserError(`invalid ${what}: no prefix`);
  const rest = value.slice('vault:v'.length);
  const colon = rest.indexOf(':');
  if (colon < 0) throw new UserError(`invalid ${what}: wrong number of fields`);
  const versionText = rest.slice(0, colon);
  if (!/^[+-]?\d+$/.test(versionText))
    throw new UserError(`invalid ${what}: version number could not be decoded`);
  let version = Number.parseInt(versionText, 10);
  if (version === 0) version = 1;
  return { version, payload: rest.slice(colon + 1) };
}

const NONCE_SIZE = 12;
const TAG_SIZE = 16;

/** A transit named key with all its versions. */
export class TransitKey {
  readonly name: string;
  readonly type: KeyType;
  readonly derived: boolean;
  readonly convergent: boolean;
  exportable: boolean;
  allowPlaintextBackup: boolean;
  deletionAllowed = false;
  minDecryptionVersion = 1;
  minEncryptionVersion = 0;
  /** Versions below it have been deleted by `keys/:name/trim`. */
  minAvailableVersion = 0;
  /** Set by `backup/:name` (Vault's `BackupInfo`): when, and the latest version at that time. */
  backupInfo: { time: number; version: number } | undefined;
  /** Set by `restore` (Vault's `RestoreInfo`). */
  restoreInfo: { time: number; version: number } | undefined;
  /** Seconds; 0 = never. */
  autoRotatePeriod: number;
  private readonly versions = new Map<number, KeyVersion>();
  latestVersion = 0;

  private constructor(name: string, options: KeyCreateOptions) {
    this.name = name;
    this.type = options.type;
    this.derived = options.derived;
    this.convergent = options.convergent;
    this.exportable = options.exportable;
    this.allowPlaintextBackup = options.allowPlaintextBackup;
    this.autoRotatePeriod = options.autoRotatePeriod;
  }

  /** Creates a key with its first version. */
  static async create(name: string, options: KeyCreateOptions, now: number): Promise<TransitKey> {
    const key = new TransitKey(name, options);
    await key.rotate(now);
    return key;
  }

  /** Adds a new version and makes it the latest (the number is taken after generation, so concurrent rotations add one version each). */
  async rotate(now: number): Promise<void> {
    const material = await this.generateVersion(now);
    const next = this.latestVersion + 1;
    this.versions.set(next, material);
    this.latestVersion = next;
  }

  private autoRotation: Promise<void> | undefined;

  /** Rotates when `auto_rotate_period` has elapsed since the latest version was created (checked lazily, once). */
  async autoRotateIfDue(now: number): Promise<void> {
    if (this.autoRotation) return this.autoRotation;
    if (this.autoRotatePeriod <= 0) return;
    const latest = this.versions.get(this.latestVersion);
    if (!latest || now - latest.creationTime < this.autoRotatePeriod * 1000) return;
    this.autoRotation = this.rotate(now).finally(() => {
      this.autoRotation = undefined;
    });
    return this.autoRotation;
  }

  private async generateVersion(now: number): Promise<KeyVersion> {
    const hmacKey = randomBytes(32);
    const base = { hmacKey, creationTime: now };
    switch (this.type) {
      case 'aes128-gcm96':
        // Vault keeps 32 bytes and uses the first 16 for AES-128.
        return { ...base, key: randomBytes(32), privateKey: undefined, publicKey: undefined };
      case 'aes256-gcm96':
      case 'chacha20-poly1305':
        return { ...base, key: randomBytes(32), privateKey: undefined, publicKey: undefined };
      case 'ed25519': {
        const seed = randomBytes(32);
        return { ...base, key: seed, ...ed25519FromSeed(seed) };
      }
      case 'ecdsa-p256':
      case 'ecdsa-p384':
      case 'ecdsa-p521': {
        const namedCurve = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384', 'ecdsa-p521': 'P-521' }[this.type];
        const pair = await generateKeyPairAsync('ec', { namedCurve });
        return { ...base, key: Buffer.alloc(0), privateKey: pair.privateKey, publicKey: pair.publicKey };
      }
      default: {
        const modulusLength = Number.parseInt(this.type.slice('rsa-'.length), 10);
        const pair = await generateKeyPairAsync('rsa', { modulusLength });
        return { ...base, key: Buffer.alloc(0), privateKey: pair.privateKey, publicKey: pair.publicKey };
      }
    }
  }

  private entry(version: number): KeyVersion {
    const entry = this.versions.get(version);
    if (!entry) throw new UserError('no such key version');
    return entry;
  }

  /** Vault's `GetKey`: the raw key, or one derived from the context for derived keys. */
  private symmetricKey(context: Buffer | undefined, version: number, numBytes: number): Buffer {
    if (!this.derived) return this.entry(version).key.subarray(0, numBytes);
    if (version <= 0 || version > this.latestVersion) throw new UserError('invalid key version');
    if (!context || context.length === 0) throw new UserError(ERR_MISSING_CONTEXT);
    return hkdfSha256(this.entry(version).key, context, numBytes);
  }

  private encKeyBytes(): number {
    return this.type === 'aes128-gcm96' ? 16 : 32;
  }

  private resolveEncryptVersion(version: number): number {
    if (version === 0) return this.latestVersion;
    if (version < 0) throw new UserError('requested version for encryption is negative');
    if (version > this.latestVersion)
      throw new UserError('requested version for encryption is higher than the latest key version');
    if (version < this.minEncryptionVersion)
      throw new UserError('requested version for encryption is less than the minimum encryption key version');
    return version;
  }

  /**
   * Encrypts a base64 plaintext (Vault's `EncryptWithFactory`). Returns `vault:vN:` + base64(nonce ‖ ct ‖ tag) for
   * AEAD keys, `vault:vN:` + base64(RSA-OAEP-SHA256 ciphertext) for RSA keys.
   */
  encrypt(
    plaintextB64: string,
    options: { version: number; context: Buffer | undefined; associatedData: Buffer | undefined },
  ): { ciphertext: string; version: number } {
    const caps = capabilities(this.type);
    if (!caps.encryption) throw new UserError(`message encryption not supported for key type ${this.type}`);
    let plaintext: Buffer;
    try {
      plaintext = decodeBase64Std(plaintextB64);
    } catch (error) {
      throw new UserError((error as Error).message);
    }
    const version = this.resolveEncryptVersion(options.version);
    let payload: Buffer;
    if (isRsa(this.type)) {
      const publicKey = this.entry(version).publicKey as KeyObject;
      payload = publicEncrypt(
        { key: publicKey, padding: nodeCryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        plaintext,
      );
    } else {
      const encBytes = this.encKeyBytes();
      let encKey: Buffer;
      let nonce: Buffer;
      if (this.convergent) {
        const material = this.symmetricKey(options.context, version, encBytes + 32);
        encKey = material.subarray(0, encBytes);
        nonce = createHmac('sha256', material.subarray(encBytes))
          .update(plaintext)
          .digest()
          .subarray(0, NONCE_SIZE);
      } else {
        encKey = this.symmetricKey(options.context, version, encBytes);
        nonce = randomBytes(NONCE_SIZE);
      }
      const algorithm = this.type === 'chacha20-poly1305' ? 'chacha20-poly1305' : `aes-${encBytes * 8}-gcm`;
      const cipher = createCipheriv(algorithm as 'aes-256-gcm', encKey, nonce, { authTagLength: TAG_SIZE });
      if (options.associatedData)
        cipher.setAAD(options.associatedData, { plaintextLength: plaintext.length });
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      payload = Buffer.concat([nonce, ct, cipher.getAuthTag()]);
    }
    return { ciphertext: `vault:v${version}:${encodeBase64Std(payload)}`, version };
  }

  /** Decrypts `vault:vN:…` to a base64 plaintext (Vault's `DecryptWithFactory`, with its error texts). */
  decrypt(
    ciphertext: string,
    options: { context: Buffer | undefined; associatedData: Buffer | undefined },
  ): { plaintext: string; version: number } {
    const caps = capabilities(this.type);
    if (!caps.decryption) throw new UserError(`message decryption not supported for key type ${this.type}`);
    const { version, payload } = parseVersioned(ciphertext, 'ciphertext');
    if (version > this.latestVersion) throw new UserError('invalid ciphertext: version is too new');
    if (this.minDecryptionVersion > 0 && version < this.minDecryptionVersion)
      throw new UserError(ERR_TOO_OLD);
    let decoded: Buffer;
    try {
      decoded = decodeBase64Std(payload);
    } catch (error) {
      if (error instanceof Base64Error) throw new UserError('invalid ciphertext: could not decode base64');
      throw error;
    }
    if (isRsa(this.type)) {
      try {
        const plain = privateDecrypt(
          {
            key: this.entry(version).privateKey as KeyObject,
            padding: nodeCryptoConstants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: 'sha256',
          },
          decoded,
        );
        return { plaintext: encodeBase64Std(plain), version };
      } catch {
        throw new UserError('failed to RSA decrypt the ciphertext: crypto/rsa: decryption error');
      }
    }
    const encBytes = this.encKeyBytes();
    const encKey = this.symmetricKey(options.context, version, encBytes);
    if (decoded.length < NONCE_SIZE) throw new UserError('invalid ciphertext length');
    const chacha = this.type === 'chacha20-poly1305';
    const failure = chacha
      ? 'chacha20poly1305: message authentication failed'
      : 'cipher: message authentication failed';
    if (decoded.length < NONCE_SIZE + TAG_SIZE) throw new UserError(failure);
    const nonce = decoded.subarray(0, NONCE_SIZE);
    const tag = decoded.subarray(decoded.length - TAG_SIZE);
    const ct = decoded.subarray(NONCE_SIZE, decoded.length - TAG_SIZE);
    try {
      const algorithm = chacha ? 'chacha20-poly1305' : `aes-${encBytes * 8}-gcm`;
      const decipher = createDecipheriv(algorithm as 'aes-256-gcm', encKey, nonce, {
        authTagLength: TAG_SIZE,
      });
      decipher.setAuthTag(tag);
      if (options.associatedData) decipher.setAAD(options.associatedData, { plaintextLength: ct.length });
      const plain = Buffer.concat([decipher.update(ct), decipher.final()]);
      return { plaintext: encodeBase64Std(plain), version };
    } catch {
      throw new UserError(failure);
    }
  }

  /** Vault's `HMACKey(version)` plus the hmac path's version checks. */
  hmacKey(version: number): Buffer {
    if (version < 0) throw new UserError('key version does not exist (cannot be negative)');
    if (version > this.latestVersion)
      throw new UserError(`key version does not exist; latest key version is ${this.latestVersion}`);
    return this.entry(version === 0 ? this.latestVersion : version).hmacKey;
  }

  /**
   * Signs input bytes. ECDSA/RSA hash the input with `hash` (as Vault hashes before signing unless prehashed);
   * ed25519 signs the input itself. Returns `vault:vN:` + base64 (std for asn1, raw URL for jws).
   */
  sign(
    input: Buffer,
    options: {
      version: number;
      context: Buffer | undefined;
      hash: string;
      marshaling: 'asn1' | 'jws';
      signatureAlgorithm: string;
      saltLength: number | 'auto' | 'hash';
    },
  ): { signature: string; version: number; publicKey: Buffer | undefined } {
    if (!capabilities(this.type).signing)
      throw new UserError(`message signing not supported for key type ${this.type}`);
    let version = options.version;
    if (version === 0) version = this.latestVersion;
    else if (version < 0) throw new UserError('requested version for signing is negative');
    else if (version > this.latestVersion)
      throw new UserError('requested version for signing is higher than the latest key version');
    else if (this.minEncryptionVersion > 0 && version < this.minEncryptionVersion)
      throw new UserError('requested version for signing is less than the minimum encryption key version');
    const entry = this.entry(version);
    let signature: Buffer;
    let publicKey: Buffer | undefined;
    if (this.type === 'ed25519') {
      let privateKey = entry.privateKey as KeyObject;
      if (this.derived) {
        const derived = ed25519FromSeed(this.symmetricKey(options.context, version, 32));
        privateKey = derived.privateKey;
        publicKey = rawEd25519Public(derived.publicKey);
      }
      signature = nodeSign(null, input, privateKey);
    } else if (isEcdsa(this.type)) {
      signature = nodeSign(options.hash, input, {
        key: entry.privateKey as KeyObject,
        dsaEncoding: options.marshaling === 'jws' ? 'ieee-p1363' : 'der',
      });
    } else {
      const algorithm = options.signatureAlgorithm || 'pss';
      if (algorithm !== 'pss' && algorithm !== 'pkcs1v15')
        throw new UserError(`unsupported rsa signature algorithm ${algorithm}`);
      signature = nodeSign(options.hash, input, {
        key: entry.privateKey as KeyObject,
        padding:
          algorithm === 'pss'
            ? nodeCryptoConstants.RSA_PKCS1_PSS_PADDING
            : nodeCryptoConstants.RSA_PKCS1_PADDING,
        ...(algorithm === 'pss' ? { saltLength: pssSaltLength(options.saltLength, 'sign') } : {}),
      });
    }
    const encoded =
      options.marshaling === 'jws' ? signature.toString('base64url') : encodeBase64Std(signature);
    return { signature: `vault:v${version}:${encoded}`, version, publicKey };
  }

  /** Verifies a `vault:vN:` signature; `false` for a well-formed signature that doesn't match. */
  verify(
    input: Buffer,
    signatureText: string,
    options: {
      context: Buffer | undefined;
      hash: string;
      marshaling: 'asn1' | 'jws';
      signatureAlgorithm: string;
      saltLength: number | 'auto' | 'hash';
    },
  ): boolean {
    if (!capabilities(this.type).signing)
      throw new UserError(`message verification not supported for key type ${this.type}`);
    const { version, payload } = parseVersioned(signatureText, 'signature');
    if (version > this.latestVersion) throw new UserError('invalid signature: version is too new');
    if (this.minDecryptionVersion > 0 && version < this.minDecryptionVersion)
      throw new UserError(ERR_TOO_OLD);
    let signature: Buffer;
    try {
      signature = options.marshaling === 'jws' ? decodeBase64RawUrl(payload) : decodeBase64Std(payload);
    } catch {
      throw new UserError('invalid base64 signature value');
    }
    const entry = this.entry(version);
    try {
      if (this.type === 'ed25519') {
        let publicKey = entry.publicKey as KeyObject;
        if (this.derived)
          publicKey = ed25519FromSeed(this.symmetricKey(options.context, version, 32)).publicKey;
        return nodeVerify(null, input, publicKey, signature);
      }
      if (isEcdsa(this.type)) {
        return nodeVerify(
          options.hash,
          input,
          {
            key: entry.publicKey as KeyObject,
            dsaEncoding: options.marshaling === 'jws' ? 'ieee-p1363' : 'der',
          },
          signature,
        );
      }
      const algorithm = options.signatureAlgorithm || 'pss';
      if (algorithm !== 'pss' && algorithm !== 'pkcs1v15')
        throw new UserError(`unsupported rsa signature algorithm ${algorithm}`);
      return nodeVerify(
        options.hash,
        input,
        {
          key: entry.publicKey as KeyObject,
          padding:
            algorithm === 'pss'
              ? nodeCryptoConstants.RSA_PKCS1_PSS_PADDING
              : nodeCryptoConstants.RSA_PKCS1_PADDING,
          ...(algorithm === 'pss' ? { saltLength: pssSaltLength(options.saltLength, 'verify') } : {}),
        },
        signature,
      );
    } catch (error) {
      if (error instanceof UserError) throw error;
      if (isEcdsa(this.type) && options.marshaling === 'asn1')
        throw new UserError('supplied signature is invalid');
      return false;
    }
  }

  /** The `keys` map of a key read: version → unix seconds (symmetric), or version → public key info. */
  formatVersions(context: Buffer | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [version, entry] of [...this.versions.entries()].sort((a, b) => a[0] - b[0])) {
      if (isSymmetric(this.type)) {
        out[String(version)] = Math.floor(entry.creationTime / 1000);
        continue;
      }
      let publicKey = '';
      let name: string = this.type;
      if (this.type === 'ed25519') {
        if (!this.derived) publicKey = rawEd25519Public(entry.publicKey as KeyObject).toString('base64');
        else if (context && context.length > 0)
          publicKey = rawEd25519Public(
            ed25519FromSeed(hkdfSha256(entry.key, context, 32)).publicKey,
          ).toString('base64');
      } else {
        publicKey = (entry.publicKey as KeyObject).export({ type: 'spki', format: 'pem' }).toString();
        if (isEcdsa(this.type))
          name = { 'ecdsa-p256': 'P-256', 'ecdsa-p384': 'P-384', 'ecdsa-p521': 'P-521' }[
            this.type as 'ecdsa-p256'
          ];
      }
      out[String(version)] = {
        name,
        public_key: publicKey,
        certificate_chain: '',
        creation_time: new Date(entry.creationTime).toISOString(),
      };
    }
    return out;
  }

  /** Export material for `export/:type/:name` (only when `exportable`). */
  exportKey(kind: 'encryption-key' | 'signing-key' | 'hmac-key' | 'public-key', version: number): string {
    const entry = this.entry(version);
    if (kind === 'hmac-key') return encodeBase64Std(entry.hmacKey);
    if (kind === 'encryption-key') {
      if (isSymmetric(this.type)) return encodeBase64Std(entry.key.subarray(0, this.encKeyBytes()));
      return (entry.privateKey as KeyObject).export({ type: 'pkcs1', format: 'pem' }).toString();
    }
    if (kind === 'public-key') {
      if (this.type === 'ed25519') return rawEd25519Public(entry.publicKey as KeyObject).toString('base64');
      return (entry.publicKey as KeyObject).export({ type: 'spki', format: 'pem' }).toString();
    }
    if (this.type === 'ed25519') {
      const raw = Buffer.concat([entry.key, rawEd25519Public(entry.publicKey as KeyObject)]);
      return encodeBase64Std(raw);
    }
    if (isEcdsa(this.type))
      return (entry.privateKey as KeyObject).export({ type: 'sec1', format: 'pem' }).toString();
    return (entry.privateKey as KeyObject).export({ type: 'pkcs1', format: 'pem' }).toString();
  }

  /**
   * Vault's `keys/:name/trim` (https://github.com/hashicorp/vault/blob/main/builtin/logical/transit/path_trim.go):
   * checks `min_available_version` in Vault's order, then deletes every version below it.
   */
  trim(minAvailableVersion: number): void {
    if (minAvailableVersion < this.minAvailableVersion)
      throw new UserError('minimum available version cannot be decremented');
    if (this.minEncryptionVersion === 0)
      throw new UserError(
        'minimum available version cannot be set when minimum encryption version is not set',
      );
    if (this.minDecryptionVersion === 0)
      throw new UserError(
        'minimum available version cannot be set when minimum decryption version is not set',
      );
    // "minmum" is Vault's own spelling.
    if (minAvailableVersion > this.minEncryptionVersion)
      throw new UserError('minimum available version cannot be greater than minmum encryption version');
    if (minAvailableVersion > this.minDecryptionVersion)
      throw new UserError('minimum available version cannot be greater than minimum decryption version');
    if (minAvailableVersion < 0) throw new UserError('minimum available version cannot be negative');
    if (minAvailableVersion === 0) throw new UserError('minimum available version should be positive');
    this.minAvailableVersion = minAvailableVersion;
    for (const version of [...this.versions.keys()])
      if (version < minAvailableVersion) this.versions.delete(version);
  }

  /**
   * The backup document of `backup/:name`, shaped like Vault's `keysutil.KeyData` (`{policy, archived_keys}`); key
   * material is carried as base64 (symmetric, HMAC) and base64 PKCS#8 DER (asymmetric private keys).
   */
  toBackup(): Record<string, unknown> {
    const keys: Record<string, unknown> = {};
    for (const [version, entry] of this.versions) {
      keys[String(version)] = {
        key: encodeBase64Std(entry.key),
        hmac_key: encodeBase64Std(entry.hmacKey),
        private_key:
          entry.privateKey && this.type !== 'ed25519'
            ? encodeBase64Std(entry.privateKey.export({ type: 'pkcs8', format: 'der' }))
            : null,
        creation_time: new Date(entry.creationTime).toISOString(),
      };
    }
    const info = (value: { time: number; version: number } | undefined) =>
      value ? { time: goTime(value.time), version: value.version } : null;
    return {
      policy: {
        name: this.name,
        type: this.type,
        keys,
        derived: this.derived,
        convergent_encryption: this.convergent,
        exportable: this.exportable,
        allow_plaintext_backup: this.allowPlaintextBackup,
        deletion_allowed: this.deletionAllowed,
        min_decryption_version: this.minDecryptionVersion,
        min_encryption_version: this.minEncryptionVersion,
        min_available_version: this.minAvailableVersion,
        latest_version: this.latestVersion,
        auto_rotate_period: this.autoRotatePeriod,
        backup_info: info(this.backupInfo),
        restore_info: info(this.restoreInfo),
      },
      archived_keys: null,
    };
  }

  /**
   * Rebuilds a key from a {@link TransitKey.toBackup} document, validating every field; a malformed document is a
   * {@link BackupFormatError} naming the field. `name` (when not empty) renames the key.
   */
  static fromBackup(document: unknown, name: string): TransitKey {
    const policy = field(document, 'policy', 'object', 'backup') as Record<string, unknown>;
    const type = field(policy, 'type', 'string') as string;
    if (!isKeyType(type)) throw new BackupFormatError(`policy.type "${type}" is not a supported key type`);
    const keyName = name || (field(policy, 'name', 'string') as string);
    const key = new TransitKey(keyName, {
      type,
      derived: field(policy, 'derived', 'boolean') as boolean,
      convergent: field(policy, 'convergent_encryption', 'boolean') as boolean,
      exportable: field(policy, 'exportable', 'boolean') as boolean,
      allowPlaintextBackup: field(policy, 'allow_plaintext_backup', 'boolean') as boolean,
      autoRotatePeriod: field(policy, 'auto_rotate_period', 'integer') as number,
    });
    key.deletionAllowed = field(policy, 'deletion_allowed', 'boolean') as boolean;
    key.minDecryptionVersion = field(policy, 'min_decryption_version', 'integer') as number;
    key.minEncryptionVersion = field(policy, 'min_encryption_version', 'integer') as number;
    key.minAvailableVersion = field(policy, 'min_available_version', 'integer') as number;
    key.latestVersion = field(policy, 'latest_version', 'integer') as number;
    const backupInfo = policy.backup_info;
    if (backupInfo !== null && backupInfo !== undefined) {
      const time = Date.parse(field(backupInfo, 'time', 'string', 'policy.backup_info') as string);
      if (Number.isNaN(time)) throw new BackupFormatError('policy.backup_info.time is not a timestamp');
      key.backupInfo = {
        time,
        version: field(backupInfo, 'version', 'integer', 'policy.backup_info') as number,
      };
    }
    const versions = field(policy, 'keys', 'object') as Record<string, unknown>;
    for (const [versionText, raw] of Object.entries(versions)) {
      if (!/^[1-9]\d*$/.test(versionText))
        throw new BackupFormatError(`policy.keys has a non-numeric version "${versionText}"`);
      const version = Number.parseInt(versionText, 10);
      const where = `policy.keys.${versionText}`;
      const material = decodeBackupBase64(field(raw, 'key', 'string', where) as string, `${where}.key`);
      const hmacKey = decodeBackupBase64(
        field(raw, 'hmac_key', 'string', where) as string,
        `${where}.hmac_key`,
      );
      const creationTime = Date.parse(field(raw, 'creation_time', 'string', where) as string);
      if (Number.isNaN(creationTime))
        throw new BackupFormatError(`${where}.creation_time is not a timestamp`);
      let pair: { privateKey: KeyObject | undefined; publicKey: KeyObject | undefined } = {
        privateKey: undefined,
        publicKey: undefined,
      };
      if (type === 'ed25519') {
        if (material.length !== 32) throw new BackupFormatError(`${where}.key is not a 32-byte ed25519 seed`);
        pair = ed25519FromSeed(material);
      } else if (isEcdsa(type) || isRsa(type)) {
        const der = decodeBackupBase64(
          field(raw, 'private_key', 'string', where) as string,
          `${where}.private_key`,
        );
        try {
          const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
          pair = { privateKey, publicKey: createPublicKey(privateKey) };
        } catch {
          throw new BackupFormatError(`${where}.private_key is not a PKCS#8 private key`);
        }
        const expected = isEcdsa(type) ? 'ec' : 'rsa';
        if (pair.privateKey?.asymmetricKeyType !== expected)
          throw new BackupFormatError(`${where}.private_key is not an ${expected} key`);
      } else if (material.length !== 32) {
        throw new BackupFormatError(`${where}.key is not a 32-byte key`);
      }
      key.versions.set(version, { key: material, hmacKey, creationTime, ...pair });
    }
    if (!key.versions.has(key.latestVersion))
      throw new BackupFormatError('policy.latest_version has no key material in policy.keys');
    return key;
  }

  /** Versions from `minDecryptionVersion` (or `version`) to latest, for export. */
  versionNumbers(): number[] {
    return [...this.versions.keys()].sort((a, b) => a - b);
  }

  /** Vault's key-read body. */
  toResponse(context?: Buffer): Record<string, unknown> {
    const caps = capabilities(this.type);
    const data: Record<string, unknown> = {
      name: this.name,
      type: this.type,
      keys: this.formatVersions(context),
      derived: this.derived,
      deletion_allowed: this.deletionAllowed,
      min_available_version: this.minAvailableVersion,
      min_decryption_version: this.minDecryptionVersion,
      min_encryption_version: this.minEncryptionVersion,
      latest_version: this.latestVersion,
      exportable: this.exportable,
      allow_plaintext_backup: this.allowPlaintextBackup,
      supports_encryption: caps.encryption,
      supports_decryption: caps.decryption,
      supports_signing: caps.signing,
      supports_derivation: caps.derivation,
      auto_rotate_period: this.autoRotatePeriod,
      imported_key: false,
    };
    if (this.backupInfo)
      data.backup_info = {
        time: goTime(this.backupInfo.time),
        version: this.backupInfo.version,
      };
    if (this.restoreInfo)
      data.restore_info = {
        time: goTime(this.restoreInfo.time),
        version: this.restoreInfo.version,
      };
    if (this.derived) {
      data.kdf = 'hkdf_sha256';
      data.convergent_encryption = this.convergent;
      if (this.convergent) data.convergent_encryption_version = 3;
    }
    return data;
  }
}

/** Go's `time.RFC3339Nano` (how Vault's JSON prints a `time.Time`): trailing zeros of the fraction dropped. */
function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0*Z$/, 'Z');
}

/** A `restore` document that is not a backup this server wrote: names the offending field. */
export class BackupFormatError extends Error {
  constructor(message: string) {
    super(`invalid backup: ${message}`);
    this.name = 'BackupFormatError';
  }
}

function field(
  parent: unknown,
  name: string,
  kind: 'object' | 'string' | 'boolean' | 'integer',
  where = 'policy',
): unknown {
  const path = `${where}.${name}`;
  if (typeof parent !== 'object' || parent === null || Array.isArray(parent))
    throw new BackupFormatError(`${where} is not an object`);
  const value = (parent as Record<string, unknown>)[name];
  const ok =
    kind === 'object'
      ? typeof value === 'object' && value !== null && !Array.isArray(value)
      : kind === 'integer'
        ? Number.isSafeInteger(value) && (value as number) >= 0
        : typeof value === kind;
  if (!ok)
    throw new BackupFormatError(
      `${path} must be ${kind === 'integer' ? 'a non-negative integer' : `a ${kind}`}`,
    );
  return value;
}

function decodeBackupBase64(text: string, where: string): Buffer {
  try {
    return decodeBase64Std(text);
  } catch {
    throw new BackupFormatError(`${where} is not base64`);
  }
}

function rawEd25519Public(publicKey: KeyObject): Buffer {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

function decodeBase64RawUrl(text: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new Error('invalid base64url');
  return Buffer.from(text, 'base64url');
}

function pssSaltLength(value: number | 'auto' | 'hash', mode: 'sign' | 'verify'): number {
  if (value === 'hash') return nodeCryptoConstants.RSA_PSS_SALTLEN_DIGEST;
  if (value === 'auto')
    return mode === 'sign'
      ? nodeCryptoConstants.RSA_PSS_SALTLEN_MAX_SIGN
      : nodeCryptoConstants.RSA_PSS_SALTLEN_AUTO;
  if (value < 0) throw new UserError(`requested salt length ${value} is invalid`);
  return value;
}

/** Constant-time comparison of two buffers. */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Maps an unexpected error to a 500 {@link LogicalError} without leaking key material. */
export function internalError(error: unknown): LogicalError {
  return new LogicalError(500, `internal error: ${error instanceof Error ? error.name : 'unknown'}`);
}
