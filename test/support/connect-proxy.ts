import { type Server, createServer, request } from 'node:http';
import { type AddressInfo, type Socket, connect } from 'node:net';

export interface ForwardProxy {
  url: string;
  /** Every target the proxy was asked for: `CONNECT host:port` or `GET http://…`. */
  seen: string[];
  stop(): Promise<void>;
}

/** A small HTTP proxy, as on a corporate network: CONNECT tunnels and absolute-form requests. */
export async function startForwardProxy(
  /** `host:port` → `host:port`: where a CONNECT for a name really goes (a name no DNS knows). */
  routes: Record<string, string> = {},
): Promise<ForwardProxy> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    // Absolute-form request: GET http://host:port/path
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: target.pathname + target.search,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (routes[req.url ?? ''] ?? req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
