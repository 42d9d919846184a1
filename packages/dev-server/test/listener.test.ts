import { expect, it } from 'vitest';
import { rewriteListMethod } from '../src/listener.js';

const rewrite = (text: string): string => rewriteListMethod(Buffer.from(text, 'latin1')).toString('latin1');

it('rewrites LIST request lines (chunk start and pipelined) and nothing else', () => {
  expect(rewrite('LIST /v1/secret/metadata HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(
    'LOCK /v1/secret/metadata HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  expect(rewrite('GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\nLIST /v1/b HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(
    'GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\nLOCK /v1/b HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  const body = 'POST /v1/kv/x HTTP/1.1\r\nContent-Length: 20\r\n\r\n{"a":"LIST /v1/x"}';
  expect(rewrite(body)).toBe(body);
  const chunk = Buffer.from('{"note":"LIST me"}');
  expect(rewriteListMethod(chunk)).toBe(chunk);
});
