// A distant link on loopback, at the TCP level: every byte arrives half a round trip late in each
// direction, and a new connection's first bytes cannot leave until one round trip after it was
// opened (what its TCP handshake costs: a client that connects early and sends later has paid it
// meanwhile, as on a real link), and each direction carries at most `rate` bytes a second. TLS, HTTP/2 and everything
// else pass through untouched, so a client pays exactly the round trips its protocol needs.
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

export interface TcpDelay {
  /** 127.0.0.1:port to dial instead of the upstream. */
  port: number;
  /** Connections opened through it so far. */
  connections(): number;
  stop(): Promise<void>;
}

/** 1 Gbit/s: a runner's link to a registry in another region. */
export const LINK_RATE = 125_000_000;

interface Pending {
  due: number;
  data?: Buffer;
  end?: boolean;
}

/** One direction of the link: every connection's bytes share its rate. */
interface Wire {
  rate: number;
  /** When the bytes already handed to this direction have left. */
  busyUntil: number;
}

/**
 * Bytes from `from` reach `to` `oneWayMs` late, paced on `wire`; none leaves before `extraMs` after
 * the connection opened.
 */
function delayed(from: Socket, to: Socket, oneWayMs: number, extraMs: number, wire: Wire): void {
  const usableFrom = performance.now() + extraMs;
  const queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let sentUntil = 0;
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0]!.due <= now) {
      const next = queue.shift()!;
      if (next.end) to.end();
      else if (!to.destroyed) to.write(next.data!);
    }
    schedule();
  };
  const schedule = (): void => {
    if (timer || !queue.length) return;
    timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
  };
  const enqueue = (item: Omit<Pending, 'due'>, bytes: number): void => {
    const now = performance.now();
    // Serialised on the link, then in flight: a byte leaves after those before it, on this
    // connection and on the link.
    const leaves = Math.max(sentUntil, wire.busyUntil, now, usableFrom);
    sentUntil = leaves + (bytes / wire.rate) * 1000;
    wire.busyUntil = sentUntil;
    queue.push({ ...item, due: sentUntil + oneWayMs });
    schedule();
  };
  from.on('data', (data: Buffer) => enqueue({ data }, data.length));
  from.on('end', () => enqueue({ end: true }, 0));
  from.on('error', () => to.destroy());
  from.on('close', () => {
    if (!queue.length) to.destroy();
  });
}

export async function startTcpDelay(
  upstreamPort: number,
  rttMs: number,
  rate = LINK_RATE,
): Promise<TcpDelay> {
  let opened = 0;
  const sockets = new Set<Socket>();
  const up: Wire = { rate, busyUntil: 0 };
  const down: Wire = { rate, busyUntil: 0 };
  const server: Server = createServer((client) => {
    opened++;
    const upstream = connect(upstreamPort, '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream, rttMs / 2, rttMs, up);
    delayed(upstream, client, rttMs / 2, 0, down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => opened,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
