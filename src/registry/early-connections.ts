import { type Socket, connect } from 'node:net';
import { type ProxySettings, proxyFor } from './proxy.js';
import { isLoopback } from './reference.js';

/**
 * How long a connection (a tunnel and TLS included) may take to open: the request's deadline less a
 * little, so that a proxy or host that stalls before a request is sent is named, not taken for the
 * registry.
 */
export function connectDeadline(requestMs: number): number {
  return Math.max(1, requestMs - Math.min(250, requestMs / 10));
}

/** Registries past which no connection is opened early: one per host is all a push starts with. */
const MOST_HOSTS = 4;

/** How an early connection's handshake ended. */
type Handshake = 'connected' | 'failed' | 'timed-out';

/**
 * What the first https dial of a host gets: the connection, or the deadline it missed (its failure,
 * then, without a second wait as long), or nothing (a new connection is dialled).
 */
export type Taken = { socket: Socket } | { timedOutMs: number } | undefined;

interface Opening {
  socket: Socket;
  handshake: Promise<Handshake>;
  /** Its error listener while it waits: a failure here is met again, and reported, when dialled. */
  ignore: () => void;
}

/**
 * TCP connections to the registries a push names, opened as soon as the settings are read: the
 * handshake's round trip then overlaps loading the HTTP stack and reading the image, which on a
 * distant registry is most of a re-push. Nothing is sent on one until the image is valid: the first
 * https connection to its host takes it and makes its TLS handshake over it, with the run's trust.
 * Direct https only: loopback hosts (which connect at once and mostly speak plain http) and hosts
 * reached through a proxy are left alone. One not taken is closed with the run.
 */
export class EarlyConnections {
  private readonly opening = new Map<string, Opening>();

  constructor(private readonly connectMs: number) {}

  /** Opens a connection to each API host (host[:port]) that is reached directly. */
  static open(
    apiHosts: readonly string[],
    options: { proxies: ProxySettings; requestMs: number },
  ): EarlyConnections {
    const early = new EarlyConnections(connectDeadline(options.requestMs));
    for (const apiHost of [...new Set(apiHosts)].slice(0, MOST_HOSTS)) {
      const url = new URL(`https://${apiHost}/`);
      if (!isLoopback(apiHost) && !proxyFor(url, options.proxies)) early.dial(url.host);
    }
    return early;
  }

  /** Opens a TCP connection to an https host[:port] now, unless one is open there already. */
  dial(host: string): void {
    const url = new URL(`https://${host}/`);
    const key = keyOf(url.hostname, portOf(url));
    if (this.opening.has(key)) return;
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: portOf(url) });
    // Parked, it must not keep the process alive; taken, it is an ordinary connection.
    socket.unref();
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    const handshake = new Promise<Handshake>((resolve) => {
      const timer = setTimeout(() => resolve('timed-out'), this.connectMs).unref();
      const settle = (how: Handshake) => (): void => (clearTimeout(timer), resolve(how));
      socket.once('connect', settle('connected')).once('close', settle('failed'));
    });
    this.opening.set(key, { socket, handshake, ignore });
  }

  /**
   * The connection opened early to an https host and port, once it connected; each is taken once.
   * Undefined when none was opened there (or it failed: the new connection dialled in its place
   * meets the failure again and reports it).
   */
  take(hostname: string, port: string): Promise<Taken> | undefined {
    const key = keyOf(hostname, port || '443');
    const opening = this.opening.get(key);
    if (!opening) return undefined;
    this.opening.delete(key);
    const { socket, handshake, ignore } = opening;
    return handshake.then((how): Taken => {
      if (how === 'timed-out') return (socket.destroy(), { timedOutMs: this.connectMs });
      if (how === 'failed' || socket.destroyed) return void socket.destroy();
      socket.off('error', ignore).ref();
      return { socket };
    });
  }

  /** Closes the connections no request took. */
  destroy(): void {
    for (const { socket } of this.opening.values()) socket.destroy();
    this.opening.clear();
  }
}

function portOf(url: URL): number {
  return Number(url.port || 443);
}

function keyOf(hostname: string, port: string | number): string {
  return `${hostname.toLowerCase()}:${port}`;
}
