// A distant registry on loopback: a reverse proxy that holds every request one round trip before
// forwarding it, and a new connection one more (its TCP handshake). Bytes flow at loopback speed,
// so what it adds is waiting, which is what a runner pushing to another region mostly does.
import {
  Agent,
  type IncomingMessage,
  type ServerResponse,
  createServer,
  request as httpRequest,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface DelayedRequest {
  method: string;
  path: string;
  status: number;
  /** The first request on its connection (it paid for the handshake). */
  newConnection: boolean;
  /** Milliseconds since the proxy started: when the request arrived and when its answer ended. */
  arrived: number;
  finished: number;
}

export interface DelayProxy {
  host: string;
  log: DelayedRequest[];
  stop(): Promise<void>;
}

export async function startDelayProxy(
  upstream: { host: string },
  rttMs: number,
): Promise<DelayProxy> {
  const log: DelayedRequest[] = [];
  const started = performance.now();
  const [upHost, upPort] = upstream.host.split(':') as [string, string];
  const served = new WeakSet<Socket>();
  const sockets = new Set<Socket>();
  const upstreamAgent = new Agent({ keepAlive: true });
  const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const newConnection = !served.has(req.socket);
    served.add(req.socket);
    const entry: DelayedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      newConnection,
      arrived: performance.now() - started,
      finished: 0,
    };
    log.push(entry);
    req.pause();
    await wait(newConnection ? 2 * rttMs : rttMs);
    const up = httpRequest(
      {
        host: upHost,
        port: Number(upPort),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent: upstreamAgent,
      },
      (answer) => {
        entry.status = answer.statusCode ?? 0;
        const headers = { ...answer.headers };
        // Hop-by-hop: the upstream leg's `connection: close` must not close the client's connection.
        // But say `keep-alive` only where the registry did: Node's server adds it to every answer,
        // and undici keeps a connection after a HEAD only when it is said (distribution never says
        // it, so against the real registry every HEAD costs a new connection; so it must here).
        if (!/keep-alive/i.test(String(headers.connection ?? ''))) res.removeHeader('connection');
        delete headers.connection;
        delete headers['keep-alive'];
        // Locations the registry writes name itself; the client must come back through the proxy.
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(`//${upstream.host}`, `//${host}`);
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on('end', () => (entry.finished = performance.now() - started));
      },
    );
    up.on('error', () => {
      entry.status = 502;
      entry.finished = performance.now() - started;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
    req.resume();
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        upstreamAgent.destroy();
        server.close(() => resolve());
      }),
  };
}
