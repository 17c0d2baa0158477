import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ERROR_BODY_BYTES, createBaseTransport } from '../../src/registry/http.js';

// An error body that never ends costs at most a small buffer: the rest is never read.
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(req.url === '/ok' ? 200 : 500, { 'content-type': 'text/html' });
    const chunk = Buffer.alloc(64 << 10, 'x');
    const pump = (): void => {
      while (res.write(chunk));
    };
    res.on('drain', pump);
    res.on('close', () => res.off('drain', pump));
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('response bodies', () => {
  it('an endless error body: the first 64 KiB are kept and the connection is closed', async () => {
    const transport = createBaseTransport();
    const started = Date.now();
    const res = await transport.send({ method: 'GET', url: new URL('/v2/', url) });
    expect(res.status).toBe(500);
    expect(res.body.length).toBe(MAX_ERROR_BODY_BYTES);
    expect(Date.now() - started).toBeLessThan(2000);
    await transport.destroy();
  });

  it('an endless success body stops at the document cap', async () => {
    const transport = createBaseTransport();
    const res = await transport.send({ method: 'GET', url: new URL('/ok', url) });
    expect(res.body.length).toBe(8 << 20);
    await transport.destroy();
  });
});
