/**
 * `instanceof VaultError` across copies of the library: the ESM and the CommonJS builds (a NestJS app compiled to
 * CommonJS that uses an ESM-only dependency ends up with both), and the sources the tests import.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VaultError, VaultErrorCode } from '../../src/index.js';

type ErrorModule = { VaultError: typeof VaultError };

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
const cjs = createRequire(import.meta.url)(`${dist}index.cjs`) as ErrorModule;
const esm = (await import(`${dist}index.js`)) as ErrorModule;

describe('VaultError identity across builds', () => {
  it('an error from one build is an instance of every copy of the class', () => {
    const copies: ErrorModule['VaultError'][] = [VaultError, cjs.VaultError, esm.VaultError];
    expect(new Set(copies).size).toBe(3);
    for (const Make of copies) {
      const error = new Make(VaultErrorCode.SEALED, 'Vault is sealed', { status: 503 });
      for (const Check of copies) {
        expect(error instanceof Check).toBe(true);
        expect(Check.is(error, VaultErrorCode.SEALED)).toBe(true);
      }
      expect(error instanceof Error).toBe(true);
    }
  });

  it('other values are not VaultErrors', () => {
    for (const Check of [VaultError, cjs.VaultError, esm.VaultError]) {
      expect(new Error('plain') instanceof Check).toBe(false);
      expect({ code: 'VAULT_SEALED' } instanceof Check).toBe(false);
      expect((null as unknown as object) instanceof Check).toBe(false);
    }
  });

  it('a subclass keeps the ordinary prototype check', () => {
    class Sub extends VaultError {}
    const base = new VaultError(VaultErrorCode.CONFIG, 'x');
    const sub = new Sub(VaultErrorCode.CONFIG, 'y');
    expect(sub instanceof Sub).toBe(true);
    expect(sub instanceof VaultError).toBe(true);
    expect(base instanceof Sub).toBe(false);
  });
});
