import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobin {
  host: string;
  /** Which upstream answered each request, in order. */
  served: string[];
  stop(): Promise<void>;
}

/**
 * A load balancer without sticky sessions: each request goes to the next upstream in turn. With
 * `splitUploads`, the worst case of that: a session is opened on the first upstream and every
 * request on it goes to the second, as happens when two replicas take turns.
 */
export async function startRoundRobin(
  upstreams: string[],
  options: { splitUploads?: boolean } = {},
): Promise<RoundRobin> {
  const served: string[] = [];
  let next = 0;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const target = (
      options.splitUploads && /\/blobs\/uploads\//.test(path)
        ? upstreams[req.method === 'POST' && /\/blobs\/uploads\/(\?|$)/.test(path) ? 0 : 1]
        : upstreams[next++ % upstreams.length]
    ) as string;
    served.push(target);
    const [host, port] = target.split(':');
    const up = request(
      { host, port: Number(port), method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    served,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
