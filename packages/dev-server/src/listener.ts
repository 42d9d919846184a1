import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Node's HTTP parser (llhttp) rejects unknown methods with 400, but Vault clients (hvac, node-vault, the CLI) send
 * the custom verb `LIST`. Each connection is therefore fed to the HTTP server through this stream, which rewrites
 * a request line's `LIST ` into `LOCK ` (same length; WebDAV's LOCK is never sent to Vault) — the handler maps
 * `LOCK` back to `LIST`. A request line starts a chunk (keep-alive clients send the next request after the
 * response) or follows a header block ending in the same chunk (pipelined requests without a body).
 */
export class VaultMethodStream extends Duplex {
  constructor(readonly inner: Socket) {
    super({ allowHalfOpen: true });
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(rewriteListMethod(chunk))) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('timeout', () => this.emit('timeout'));
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  get remoteAddress(): string | undefined {
    return this.inner.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.inner.remotePort;
  }

  get localAddress(): string | undefined {
    return this.inner.localAddress;
  }

  get localPort(): number | undefined {
    return this.inner.localPort;
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.inner.setTimeout(ms);
    if (callback) this.once('timeout', callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.inner.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.inner.setKeepAlive(enable, delay);
    return this;
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.inner.destroyed) {
      callback();
      return;
    }
    this.inner.write(chunk, encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}

const LIST_AT_START = /^LIST (?=\S+ HTTP\/1\.[01]\r?\n)/;
const LIST_AFTER_HEADERS = /(\r\n\r\n)LIST (?=\S+ HTTP\/1\.[01]\r?\n)/g;

/** Rewrites `LIST ` request lines to `LOCK ` (see {@link VaultMethodStream}). */
export function rewriteListMethod(chunk: Buffer): Buffer {
  if (chunk.indexOf('LIST ') < 0) return chunk;
  const text = chunk.toString('latin1');
  const rewritten = text.replace(LIST_AT_START, 'LOCK ').replace(LIST_AFTER_HEADERS, '$1LOCK ');
  return rewritten === text ? chunk : Buffer.from(rewritten, 'latin1');
}
