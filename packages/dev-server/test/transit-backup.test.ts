import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/index.js';
import { type EngineHarness, startEngine } from './support/engine.js';

// Vault's transit backup/restore/trim:
// https://github.com/hashicorp/vault/blob/main/builtin/logical/transit/path_backup.go, path_restore.go, path_trim.go
let engine: EngineHarness;
const post = (path: string, data: Record<string, unknown> = {}) => engine.post(path, data);
const read = (path: string) => engine.call('read', path);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

beforeEach(async () => {
  engine = await startEngine('transit');
});
afterEach(async () => {
  await engine.close();
});

async function backupable(name: string, type = 'aes256-gcm96') {
  expect((await post(`keys/${name}`, { type, exportable: true, allow_plaintext_backup: true })).status).toBe(
    200,
  );
}

describe('transit backup and restore', () => {
  it('round-trips every key type: the restored key decrypts/verifies what the original produced', async () => {
    for (const type of ['aes256-gcm96', 'chacha20-poly1305', 'ed25519', 'ecdsa-p256', 'rsa-2048']) {
      const name = `k-${type}`;
      await backupable(name, type);
      expect((await post(`keys/${name}/rotate`)).status).toBe(200);
      let proof: { path: string; body: Record<string, unknown>; check: (r: Record<string, unknown>) => void };
      if (type.startsWith('aes') || type.startsWith('chacha')) {
        const ct = (await post(`encrypt/${name}`, { plaintext: b64('hello') })).data?.ciphertext;
        proof = {
          path: 'decrypt',
          body: { ciphertext: ct },
          check: (d) => expect(d.plaintext).toBe(b64('hello')),
        };
      } else {
        const sig = (await post(`sign/${name}`, { input: b64('hello') })).data?.signature;
        proof = {
          path: 'verify',
          body: { input: b64('hello'), signature: sig },
          check: (d) => expect(d.valid).toBe(true),
        };
      }
      const backup = await read(`backup/${name}`);
      expect(backup.status).toBe(200);
      expect(Object.keys(backup.data ?? {})).toEqual(['backup']);
      const blob = String(backup.data?.backup);
      const restored = await post(`restore/${name}-copy`, { backup: blob });
      expect(restored.status).toBe(204);
      const copy = await read(`keys/${name}-copy`);
      expect(copy.data).toMatchObject({ name: `${name}-copy`, type, latest_version: 2 });
      expect(copy.data?.restore_info).toMatchObject({ version: 2 });
      expect(copy.data?.backup_info).toMatchObject({ version: 2 });
      const answer = await post(`${proof.path}/${name}-copy`, proof.body);
      expect(answer.status).toBe(200);
      proof.check(answer.data ?? {});
    }
  });

  it('records backup_info and restore_info at the injected clock’s instant', async () => {
    const clock = new ManualClock(Date.parse('2030-01-02T03:04:05.000Z'));
    await engine.close();
    engine = await startEngine('transit', 'transit', undefined, { clock });
    await backupable('orders');
    expect((await read('keys/orders')).data?.backup_info).toBeUndefined();
    const blob = (await read('backup/orders')).data?.backup;
    expect((await read('keys/orders')).data?.backup_info).toEqual({
      time: '2030-01-02T03:04:05Z',
      version: 1,
    });
    await clock.advance(60_000);
    expect((await post('restore/copy', { backup: blob })).status).toBe(204);
    expect((await read('keys/copy')).data?.restore_info).toEqual({
      time: '2030-01-02T03:05:05Z',
      version: 1,
    });
  });

  it('answers Vault’s errors and status codes', async () => {
    expect(await read('backup/missing')).toMatchObject({ status: 500, errors: ['key "missing" not found'] });
    await post('keys/plain');
    expect(await read('backup/plain')).toMatchObject({
      status: 500,
      errors: ['exporting is disallowed on the policy'],
    });
    await post('keys/exportonly', { exportable: true });
    expect(await read('backup/exportonly')).toMatchObject({
      status: 500,
      errors: ['plaintext backup is disallowed on the policy'],
    });
    expect(await post('restore', {})).toMatchObject({ status: 400, errors: ["'backup' must be supplied"] });
    expect(await post('restore', { backup: null })).toMatchObject({
      status: 400,
      errors: ["'backup' must be supplied"],
    });
    expect(await post('restore', { backup: 'not base64!' })).toMatchObject({
      status: 500,
      errors: ['illegal base64 data at input byte 3'],
    });
    expect(await post('restore', { backup: b64('{"policy": 3}') })).toMatchObject({
      status: 500,
      errors: ['invalid backup: backup.policy must be a object'],
    });
    await backupable('orders');
    const blob = (await read('backup/orders')).data?.backup;
    expect(await post('restore', { backup: blob })).toMatchObject({
      status: 500,
      errors: ['key "orders" already exists'],
    });
    // As in Vault's router, the (unmatched) optional path capture overrides a `name` in the body.
    expect(await post('restore', { backup: blob, name: 'elsewhere' })).toMatchObject({
      status: 500,
      errors: ['key "orders" already exists'],
    });
    expect(await post('restore/a/b', { backup: blob })).toMatchObject({
      status: 500,
      errors: ['key names cannot be paths'],
    });
    expect(await post('restore', { backup: blob, force: 'tRuE' })).toMatchObject({ status: 400 });
    expect((await post('restore', { backup: blob, force: true })).status).toBe(204);
    expect((await read('keys/orders')).data?.restore_info).toMatchObject({ version: 1 });
  });

  it('restore with force replaces the existing key’s material', async () => {
    await backupable('orders');
    const blob = (await read('backup/orders')).data?.backup;
    const before = (await post('encrypt/orders', { plaintext: b64('one') })).data?.ciphertext;
    await post('keys/orders/rotate');
    const after = (await post('encrypt/orders', { plaintext: b64('two') })).data?.ciphertext;
    expect(String(after)).toMatch(/^vault:v2:/);
    expect((await post('restore', { backup: blob, force: true })).status).toBe(204);
    expect((await read('keys/orders')).data?.latest_version).toBe(1);
    expect((await post('decrypt/orders', { ciphertext: before })).data?.plaintext).toBe(b64('one'));
    expect(await post('decrypt/orders', { ciphertext: after })).toMatchObject({
      status: 400,
      errors: ['invalid ciphertext: version is too new'],
    });
  });
});

describe('transit trim', () => {
  it('applies Vault’s min_available_version rules in Vault’s order, then deletes older versions', async () => {
    expect(await post('keys/missing/trim', { min_available_version: 1 })).toMatchObject({
      status: 400,
      errors: ['invalid key name'],
    });
    await post('keys/orders', { exportable: true });
    for (let i = 0; i < 4; i++) await post('keys/orders/rotate');
    const old = (await post('encrypt/orders', { plaintext: b64('x'), key_version: 2 })).data?.ciphertext;
    expect(await post('keys/orders/trim', {})).toMatchObject({
      status: 400,
      errors: ['missing min_available_version'],
    });
    expect(await post('keys/orders/trim', { min_available_version: 'x' })).toMatchObject({ status: 400 });
    expect(await post('keys/orders/trim', { min_available_version: 1 })).toMatchObject({
      status: 400,
      errors: ['minimum available version cannot be set when minimum encryption version is not set'],
    });
    await post('keys/orders/config', { min_encryption_version: 4, min_decryption_version: 3 });
    expect(await post('keys/orders/trim', { min_available_version: 5 })).toMatchObject({
      status: 400,
      errors: ['minimum available version cannot be greater than minmum encryption version'],
    });
    expect(await post('keys/orders/trim', { min_available_version: 4 })).toMatchObject({
      status: 400,
      errors: ['minimum available version cannot be greater than minimum decryption version'],
    });
    expect(await post('keys/orders/trim', { min_available_version: 0 })).toMatchObject({
      status: 400,
      errors: ['minimum available version should be positive'],
    });
    // Vault checks "decremented" first, so a negative value is reported as a decrement.
    expect(await post('keys/orders/trim', { min_available_version: -1 })).toMatchObject({
      status: 400,
      errors: ['minimum available version cannot be decremented'],
    });
    const trimmed = await post('keys/orders/trim', { min_available_version: 3 });
    expect(trimmed.status).toBe(200);
    expect(trimmed.data).toMatchObject({ name: 'orders', min_available_version: 3, latest_version: 5 });
    expect(Object.keys(trimmed.data?.keys as object)).toEqual(['3', '4', '5']);
    expect(await post('keys/orders/trim', { min_available_version: 2 })).toMatchObject({
      status: 400,
      errors: ['minimum available version cannot be decremented'],
    });
    // A trimmed version is gone for good, even if min_decryption_version is lowered again.
    expect(await post('decrypt/orders', { ciphertext: old })).toMatchObject({ status: 400 });
    expect((await read('export/encryption-key/orders')).data?.keys).toSatisfy(
      (keys: Record<string, string>) => Object.keys(keys).join(',') === '3,4,5',
    );
  });
});
