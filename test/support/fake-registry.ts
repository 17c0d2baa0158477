import { createHash, randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process registry for protocol corners that distribution 2.8 never produces (it never
 * answers 416, for one). It keeps uploads in memory and lets a test decide each PATCH's fate.
 */
export type PatchFate = 'accept' | 'accept-201' | '416' | '500' | 'gone' | 'partial-reset';

export interface FakeRegistry {
  host: string;
  /** Called for every PATCH with its 1-based number; the default accepts. */
  patchFate: (n: number) => PatchFate;
  requests: { method: string; path: string; contentRange?: string; status: number }[];
  blobs: Map<string, Buffer>;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const sessions = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const requests: FakeRegistry['requests'] = [];
  let patches = 0;
  const fake: FakeRegistry = {
    host: '',
    patchFate: () => 'accept',
    requests,
    blobs,
    stop: async () => undefined,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const entry = {
      method,
      path: url.pathname,
      contentRange: req.headers['content-range'] as string | undefined,
      status: 0,
    };
    requests.push(entry);
    const send = (status: number, headers: Record<string, string> = {}, body = ''): void => {
      entry.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    const unknown = (): void =>
      send(
        404,
        { 'content-type': 'application/json' },
        JSON.stringify({
          errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'blob upload unknown to registry' }],
        }),
      );
    if (url.pathname === '/v2/') return send(200);
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(url.pathname);
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
    if (upload && method === 'POST') {
      await readBody(req);
      const id = randomUUID();
      sessions.set(id, Buffer.alloc(0));
      return send(202, {
        location: `/v2/${upload[1]}/blobs/uploads/${id}`,
        range: '0-0',
        'docker-upload-uuid': id,
      });
    }
    if (upload && upload[2]) {
      const id = upload[2];
      const data = sessions.get(id);
      const range = (): Record<string, string> => ({
        location: `/v2/${upload[1]}/blobs/uploads/${id}`,
        range: `0-${Math.max(0, (sessions.get(id)?.length ?? 0) - 1)}`,
      });
      if (method === 'DELETE') {
        sessions.delete(id);
        return send(204);
      }
      if (!data) {
        req.resume();
        return unknown();
      }
      if (method === 'GET') return send(204, range());
      if (method === 'PATCH') {
        const fate = fake.patchFate(++patches);
        const [start] = String(req.headers['content-range'] ?? '0-0')
          .split('-')
          .map(Number);
        if (fate === 'gone') {
          sessions.delete(id);
          req.resume();
          return unknown();
        }
        if (fate === '500') {
          req.resume();
          return send(500, { 'content-type': 'text/plain' }, 'storage hiccup');
        }
        if (fate === '416' || start !== data.length) {
          req.resume();
          return send(416, range());
        }
        if (fate === 'partial-reset') {
          // Keep what arrived before the connection dropped, as a real registry's storage would.
          const expected = Number(req.headers['content-length']);
          const kept: Buffer[] = [];
          let got = 0;
          req.on('data', (c: Buffer) => {
            if (got >= expected / 2) return;
            const take = c.subarray(0, Math.ceil(expected / 2) - got);
            kept.push(take);
            got += take.length;
            if (got >= expected / 2) {
              sessions.set(id, Buffer.concat([data, ...kept]));
              entry.status = -1;
              req.socket.destroy();
            }
          });
          return;
        }
        sessions.set(id, Buffer.concat([data, await readBody(req)]));
        return send(fate === 'accept-201' ? 201 : 202, range());
      }
      if (method === 'PUT') {
        const all = Buffer.concat([data, await readBody(req)]);
        const digest = url.searchParams.get('digest') ?? '';
        const actual = `sha256:${createHash('sha256').update(all).digest('hex')}`;
        if (digest !== actual)
          return send(
            400,
            { 'content-type': 'application/json' },
            JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: `got ${actual}` }] }),
          );
        blobs.set(digest, all);
        sessions.delete(id);
        return send(201, {
          location: `/v2/${upload[1]}/blobs/${digest}`,
          'docker-content-digest': digest,
        });
      }
    }
    if (blob && method === 'HEAD') {
      const found = blobs.get(blob[2] as string);
      return found
        ? send(200, {
            'docker-content-digest': blob[2] as string,
            'content-length': String(found.length),
          })
        : send(404);
    }
    if (manifest && method === 'PUT') {
      const body = await readBody(req);
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      manifests.set(manifest[2] as string, body);
      return send(201, { 'docker-content-digest': digest });
    }
    if (manifest && (method === 'HEAD' || method === 'GET')) {
      const body = manifests.get(manifest[2] as string);
      req.resume();
      if (!body) return send(404);
      return send(200, {
        'docker-content-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
        'content-length': String(body.length),
      });
    }
    req.resume();
    send(404);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.stop = () =>
    new Promise((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    });
  return fake;
}
