/** Go's strict standard base64 (`encoding/base64.StdEncoding`), as Vault's transit and PKI engines decode input. */

/** Thrown by {@link decodeBase64Std} with Go's `base64.CorruptInputError` text. */
export class Base64Error extends Error {
  constructor(offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
    this.name = 'Base64Error';
  }
}

const B64_ALPHABET = /[A-Za-z0-9+/]/;

/**
 * Decodes standard, padded base64 strictly as Go's `base64.StdEncoding.DecodeString` does (CR/LF ignored), throwing
 * {@link Base64Error} with Go's `illegal base64 data at input byte N` for bad input.
 */
export function decodeBase64Std(input: string): Buffer {
  let quantumStart = 0;
  let inQuantum = 0;
  let padding = 0;
  let clean = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    if (ch === '\r' || ch === '\n') continue;
    if (padding > 0) {
      if (ch !== '=' || inQuantum + padding >= 4) throw new Base64Error(i);
      padding++;
      continue;
    }
    if (ch === '=') {
      if (inQuantum < 2) throw new Base64Error(i);
      padding = 1;
      continue;
    }
    if (!B64_ALPHABET.test(ch)) throw new Base64Error(i);
    if (inQuantum === 0) quantumStart = i;
    clean += ch;
    inQuantum = (inQuantum + 1) % 4;
  }
  if (padding > 0 && inQuantum + padding !== 4) throw new Base64Error(input.length);
  if (padding === 0 && inQuantum !== 0) throw new Base64Error(quantumStart);
  return Buffer.from(clean, 'base64');
}

/** Standard padded base64. */
export function encodeBase64Std(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
