import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../../src/registry/errors.js';
import type { BaseTransport, HttpRequest, HttpResponse } from '../../src/registry/http.js';
import { seededRandom } from './fault-proxy.js';

/**
 * A registry model for the seeded simulation: the distribution protocol in memory (sessions,
 * chunks with Content-Range, commits checked against their digest, HEAD), behind a fault schedule
 * that one seed decides. It answers as the base transport would, so everything above it (retry,
 * auth, the client, the transfer machine) runs as in a push. A corner no real part reproduces
 * thousands of times a second: that is what it is for; the real-registry tests stay.
 */
export type FaultKind =
  | 'none'
  | 'status-500'
  | 'status-503'
  | 'status-429'
  | 'status-524'
  | 'reset-body'
  | 'stall'
  | 'refused'
  | 'lost-session'
  | 'expiring-session'
  | 'replica-lag'
  | 'lost-blob'
  | 'body-cap'
  | 'chunk-min'
  | 'relative-location';

export interface Schedule {
  kind: FaultKind;
  /** Fraction of the eligible requests that fail; 1 means every one, forever. */
  rate: number;
  /** For body-cap: the largest body that passes; for chunk-min: the smallest chunk taken. */
  limit?: number;
  /** For replica-lag: HEADs answering 404 after each commit. */
  lag?: number;
}

export interface SimRequest {
  method: string;
  path: string;
  status: number | string;
  /** The request failed by the schedule (a status or a network error it injected). */
  injected: boolean;
}

export const SIM_HOST = 'sim.registry.test';
const DEADLINE_MS = 30_000;
const MAX_REQUESTS = 1000;

async function readBody(body: HttpRequest['body']): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const source = body();
  if (typeof source === 'string' || Buffer.isBuffer(source)) return Buffer.from(source);
  const chunks: Buffer[] = [];
  for await (const chunk of source as AsyncIterable<Buffer> | Readable)
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class SimRegistry {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  readonly log: SimRequest[] = [];
  private sessions = new Map<string, Buffer>();
  private parts = new Map<string, number>();
  private lost = new Set<string>();
  private born = new Map<string, number>();
  private lag = new Map<string, number>();
  private next = 0;
  private readonly random: () => number;

  constructor(
    readonly schedule: Schedule,
    seed: number,
    /** Advances the virtual clock: a stalled request costs its whole deadline. */
    private readonly advance: (ms: number) => void,
    private readonly now: () => number = () => 0,
  ) {
    this.random = seededRandom(seed ^ 0x5eed);
  }

  /** Whether this request fails by the schedule. */
  private hit(): boolean {
    return this.schedule.rate >= 1 || this.random() < this.schedule.rate;
  }

  transport(): BaseTransport {
    return {
      send: (req) => this.send(req),
      close: async () => undefined,
      destroy: async () => undefined,
    };
  }

  private answer(
    req: HttpRequest,
    status: number,
    headers: Record<string, string> = {},
    body = '',
    injected = false,
  ): HttpResponse {
    this.log.push({ method: req.method, path: req.url.pathname, status, injected });
    return { status, headers, body: Buffer.from(body), url: req.url };
  }

  private error(req: HttpRequest, code: string, bodyIncomplete = false): never {
    this.log.push({ method: req.method, path: req.url.pathname, status: code, injected: true });
    throw new RegistryError({
      method: req.method,
      op: req.op,
      url: req.url,
      bodyIncomplete,
      // The transport's own deadline ends a request as `ended`, never as a network code.
      ...(code === 'DEADLINE'
        ? { ended: 'deadline', context: 'the registry stopped answering: no answer within 30 s' }
        : { networkCode: code }),
    });
  }

  private json(code: string, message: string): string {
    return JSON.stringify({ errors: [{ code, message }] });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    // A machine that never stops would starve the event loop (the virtual clock never waits):
    // end it here, so the run reports the runaway instead of hanging.
    if (this.log.length >= MAX_REQUESTS) throw new Error(`runaway: over ${MAX_REQUESTS} requests`);
    const { kind } = this.schedule;
    const path = req.url.pathname;
    const hasBody = req.method === 'PATCH' || (req.method === 'PUT' && req.body !== undefined);
    const body = await readBody(req.body);
    req.onProgress?.(body.length);
    const isBlobRequest = /\/blobs\//.test(path);
    // Transient faults, on any blob request.
    if (isBlobRequest && this.hit()) {
      if (kind === 'status-500')
        return this.answer(req, 500, {}, this.json('UNKNOWN', 'boom'), true);
      if (kind === 'status-503') return this.answer(req, 503, {}, 'unavailable', true);
      if (kind === 'status-429')
        return this.answer(req, 429, {}, this.json('TOOMANYREQUESTS', 'slow down'), true);
      if (kind === 'status-524')
        return this.answer(req, 524, { server: 'cloudflare' }, '<html>timeout</html>', true);
      if (kind === 'stall') {
        this.advance(DEADLINE_MS);
        this.error(req, 'DEADLINE', hasBody);
      }
      if (kind === 'reset-body' && hasBody && body.length > 0) this.error(req, 'ECONNRESET', true);
      if (kind === 'refused') this.error(req, 'ECONNREFUSED');
    }
    if (path === '/v2/') return this.answer(req, 200);
    const blob = /^\/v2\/(.+)\/blobs\/(sha\d+:[a-f0-9]+)$/.exec(path);
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
    if (blob && req.method === 'HEAD') {
      const digest = blob[2] as string;
      const lagging = this.lag.get(digest) ?? 0;
      if (lagging > 0) {
        this.lag.set(digest, lagging - 1);
        return this.answer(req, 404, {}, '', true);
      }
      const found = this.blobs.get(digest);
      if (!found) return this.answer(req, 404, {}, '', this.lost.has(digest));
      return this.answer(req, 200, {
        'content-length': String(found.length),
        'docker-content-digest': digest,
      });
    }
    if (upload && req.method === 'POST' && upload[2] === '') {
      const id = `s${++this.next}`;
      this.sessions.set(id, Buffer.alloc(0));
      this.born.set(id, this.now());
      const location =
        kind === 'relative-location'
          ? `/v2/${upload[1]}/blobs/uploads/${id}?_state=x`
          : `https://${SIM_HOST}/v2/${upload[1]}/blobs/uploads/${id}?_state=x`;
      const headers: Record<string, string> = { location, range: '0-0' };
      if (kind === 'chunk-min' && this.schedule.limit)
        headers['oci-chunk-min-length'] = String(this.schedule.limit);
      return this.answer(req, 202, headers);
    }
    if (upload) {
      const id = upload[2] as string;
      const data = this.sessions.get(id);
      const where = `https://${SIM_HOST}${path}?_state=y`;
      if (!data || (kind === 'lost-session' && req.method !== 'DELETE' && this.hit()))
        return this.answer(
          req,
          404,
          {},
          this.json('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown'),
          data !== undefined,
        );
      if (req.method === 'DELETE') {
        this.sessions.delete(id);
        return this.answer(req, 204);
      }
      if (req.method === 'GET') {
        const range = data.length ? `0-${data.length - 1}` : '0-0';
        return this.answer(req, 204, { location: where, range });
      }
      if (kind === 'body-cap' && hasBody && body.length > (this.schedule.limit ?? Infinity))
        return this.answer(req, 413, { server: 'nginx' }, '<html>413 nginx</html>', true);
      if (req.method === 'PATCH') {
        const range = /^(\d+)-(\d+)$/.exec(req.headers?.['content-range'] ?? '');
        const start = range ? Number(range[1]) : data.length;
        if (start !== data.length)
          return this.answer(req, 416, { range: `0-${data.length - 1}` }, '');
        // Part sizes are checked when the next part comes (ECR): a small earlier part is refused then.
        // Sessions that expire `limit` ms after they open, on a slow link (32 KiB/s).
        if (kind === 'expiring-session') {
          this.advance((body.length / 32_768) * 1000);
          if (this.now() - (this.born.get(id) ?? 0) > (this.schedule.limit ?? 5000)) {
            this.sessions.delete(id);
            return this.answer(req, 404, {}, this.json('BLOB_UPLOAD_UNKNOWN', 'expired'), true);
          }
        }
        const previous = this.parts.get(id);
        if (kind === 'chunk-min' && previous !== undefined && previous < (this.schedule.limit ?? 0))
          return this.answer(req, 400, {}, this.json('RANGE_ERROR', 'part too small'), true);
        this.parts.set(id, body.length);
        this.sessions.set(id, Buffer.concat([data, body]));
        return this.answer(req, 202, {
          location: where,
          range: `0-${data.length + body.length - 1}`,
        });
      }
      if (req.method === 'PUT') {
        const digest = req.url.searchParams.get('digest') ?? '';
        const all = Buffer.concat([data, body]);
        const algorithm = digest.split(':')[0] as string;
        const actual = `${algorithm}:${createHash(algorithm).update(all).digest('hex')}`;
        if (actual !== digest)
          return this.answer(req, 400, {}, this.json('DIGEST_INVALID', 'digest did not match'));
        this.sessions.delete(id);
        if (kind === 'lost-blob' && this.hit()) this.lost.add(digest);
        else this.blobs.set(digest, all);
        if (kind === 'replica-lag') this.lag.set(digest, this.schedule.lag ?? 1);
        return this.answer(req, 201, { 'docker-content-digest': digest });
      }
    }
    if (manifest && req.method === 'PUT') {
      this.manifests.set(manifest[2] as string, body);
      return this.answer(req, 201);
    }
    return this.answer(req, 404);
  }
}

/** A clock that never sleeps: time moves when someone waits, and only then. */
export function virtualClock(seed: number): {
  clock: { now(): number; sleep(ms: number): Promise<void>; random(): number };
  advance(ms: number): void;
} {
  let now = 0;
  const random = seededRandom(seed);
  return {
    clock: {
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
      random,
    },
    advance: (ms) => {
      now += ms;
    },
  };
}
