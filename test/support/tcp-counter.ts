import { type AddressInfo, type Socket, connect, createServer } from 'node:net';

/** A plain TCP relay to a local port that counts the connections made through it. */
export interface TcpCounter {
  port: number;
  connections(): number;
  /** Those that began with a TLS handshake. */
  tlsConnections(): number;
  stop(): Promise<void>;
}

export async function startTcpCounter(upstreamPort: number): Promise<TcpCounter> {
  let opened = 0;
  let tls = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    opened++;
    // A TLS record of type handshake (22) opens every TLS connection.
    client.once('data', (first: Buffer) => void (first[0] === 22 && tls++));
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => opened,
    tlsConnections: () => tls,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
