// A registry made distant: TLS in front of it (HTTP/2 and HTTP/1.1 offered, as hosted registries
// and their CDNs do), then the TCP-level delay link, under FAR_HOST. Whatever is behind it (a
// profile's fault proxy, nginx, distribution) answers as before; only the wire changes.
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, Agent, request } from 'node:http';
import {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2SecureServer,
  createSecureServer,
} from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FAR_HOST } from './far-host.js';
import { type TcpDelay, startTcpDelay } from './tcp-delay.js';

export interface FarLink {
  /** FAR_HOST:port, the host to push to. */
  host: string;
  /** Requests served so far, by HTTP version: the evidence of which protocol each kind took. */
  served: { h2: number; h1: number };
  stop(): Promise<void>;
}

/** Headers of one hop that HTTP/2 forbids and that must not be forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
]);

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers))
    if (!name.startsWith(':') && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

type FrontRequest = Http2ServerRequest | IncomingMessage;
type FrontResponse = Http2ServerResponse | ServerResponse;

/** Terminates TLS and forwards to `upstream` as a TLS-terminating load balancer does. */
async function startTlsFront(
  upstream: string,
  cert: { certFile: string; keyFile: string },
): Promise<{
  port: number;
  server: Http2SecureServer;
  agent: Agent;
  served: FarLink['served'];
}> {
  const [upHost, upPort] = [upstream.split(':')[0]!, Number(upstream.split(':')[1])];
  const agent = new Agent({ keepAlive: true });
  const served = { h2: 0, h1: 0 };
  const forward = (req: FrontRequest, res: FrontResponse): void => {
    served[req.httpVersion === '2.0' ? 'h2' : 'h1']++;
    const headers = forwardable(req.headers);
    // The registry writes its Locations from Host and X-Forwarded-Proto, as behind any terminator.
    headers.host = (req.headers[':authority'] as string | undefined) ?? req.headers.host;
    headers['x-forwarded-proto'] = 'https';
    const up = request({
      host: upHost,
      port: upPort,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    up.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwardable(answer.headers));
      answer.pipe(res as NodeJS.WritableStream);
    });
    // An answer before the whole body was read (a 404 to a PUT, a 502 for an upstream that hung
    // up): the rest of the body is read here and dropped, as nginx does, so that the next request
    // on the client's connection is read as a request.
    res.on('finish', () => {
      if (req.readableEnded) return;
      req.unpipe(up);
      up.destroy();
      req.resume();
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.on('error', () => up.destroy());
    req.pipe(up);
  };
  const server = createSecureServer(
    {
      cert: readFileSync(cert.certFile),
      key: readFileSync(cert.keyFile),
      allowHTTP1: true,
    },
    forward,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, agent, served };
}

/** `upstream` (host:port, plain http) behind TLS for FAR_HOST and a link of `rttMs` round trips. */
export async function startFarLink(
  upstream: string,
  cert: { certFile: string; keyFile: string },
  rttMs: number,
): Promise<FarLink> {
  const front = await startTlsFront(upstream, cert);
  const link: TcpDelay = await startTcpDelay(front.port, rttMs);
  return {
    host: `${FAR_HOST}:${link.port}`,
    served: front.served,
    stop: async () => {
      await link.stop();
      front.agent.destroy();
      await new Promise<void>((resolve) => front.server.close(() => resolve()));
    },
  };
}
