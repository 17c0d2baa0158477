import { type Socket, connect as netConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { formatDuration } from '../util/format.js';
import type { buildConnector } from './undici.js';

/**
 * How a CONNECT tunnel failed, as the failure rules read it: the proxy answered with a status
 * (`status`), or it closed, stalled or answered something that is not HTTP. The codes are not
 * undici's socket codes on purpose: undici connects again at once after those, endlessly.
 */
export type TunnelFailure = 'closed' | 'stalled' | 'garbage' | 'status';

export class TunnelError extends Error {
  override name = 'TunnelError';
  readonly code: string;
  constructor(
    readonly failure: TunnelFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.code = failure === 'status' ? `PROXY_${status}` : `PROXY_${failure.toUpperCase()}`;
  }
}

export interface TunnelOptions {
  proxy: URL;
  /** Proxy-Authorization, sent on the CONNECT only. */
  authorization?: string;
  /** TLS to an https proxy itself. */
  proxyTls: ConnectionOptions;
  /** TLS to the registry, through the tunnel. */
  registryTls: ConnectionOptions;
  /** The CONNECT and the TLS handshake through it, together, take at most this long. */
  timeoutMs: number;
}

/** The most of a CONNECT answer's head read: a status line and a few headers. */
const MAX_HEAD = 16 << 10;

type ConnectTo = buildConnector.Options;

/**
 * An undici connector (the Agent's public `connect` option) that opens a CONNECT tunnel through a
 * proxy and then TLS to the registry, with one deadline over both: the tunnel is a request like any
 * other, so a proxy that closes, stalls or answers garbage fails it once, and the retry budget
 * decides whether to try again.
 */
export function tunnelConnector(options: TunnelOptions): buildConnector.connector {
  return (to, done) => {
    const port = Number(to.port) || (to.protocol === 'https:' ? 443 : 80);
    const target = `${to.hostname.includes(':') && !to.hostname.startsWith('[') ? `[${to.hostname}]` : to.hostname}:${port}`;
    const proxyPort =
      Number(options.proxy.port) || (options.proxy.protocol === 'https:' ? 443 : 80);
    const proxyHost = options.proxy.hostname.replace(/^\[|\]$/g, '');
    let finished = false;
    let socket: Socket | TLSSocket =
      options.proxy.protocol === 'https:'
        ? tlsConnect({
            ...options.proxyTls,
            host: proxyHost,
            port: proxyPort,
            servername: proxyHost,
          })
        : netConnect(proxyPort, proxyHost);
    const finish = (error: Error | null, result?: Socket | TLSSocket): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        done(error, null);
      } else done(null, result ?? socket);
    };
    const timer = setTimeout(
      () =>
        finish(
          new TunnelError(
            'stalled',
            `the proxy did not open a tunnel to ${target} (and TLS through it) within ${formatDuration(options.timeoutMs)}`,
          ),
        ),
      options.timeoutMs,
    );
    // Refused or unresolvable: the proxy cannot be reached, said as such. A reset once it took
    // the connection is the tunnel failing, like a close.
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(
        error.code === 'ECONNRESET' || error.code === 'EPIPE'
          ? new TunnelError(
              'closed',
              `the proxy reset the connection before a tunnel to ${target} was open`,
            )
          : error,
      ),
    );
    socket.once('close', () =>
      finish(
        new TunnelError(
          'closed',
          `the proxy closed the connection before a tunnel to ${target} was open`,
        ),
      ),
    );
    socket.once(options.proxy.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      const auth = options.authorization ? `Proxy-Authorization: ${options.authorization}\r\n` : '';
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD || !'HTTP/'.startsWith(head.subarray(0, 5).toString('latin1')))
          finish(
            new TunnelError(
              'garbage',
              `the proxy answered the CONNECT with something that is not HTTP`,
            ),
          );
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
      if (!status)
        return finish(
          new TunnelError(
            'garbage',
            'the proxy answered the CONNECT with something that is not HTTP',
          ),
        );
      const code = Number(status[1]);
      if (code !== 200)
        return finish(
          new TunnelError('status', `Proxy response (${code}) !== 200 when HTTP Tunneling`, code),
        );
      const rest = head.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      if (to.protocol !== 'https:') return finish(null, socket);
      // The TLS socket reports what happens below it; the raw one must not throw meanwhile.
      socket.on('error', () => undefined);
      throughTls(socket, to, target);
    };
    socket.on('data', onData);

    const throughTls = (raw: Socket | TLSSocket, to: ConnectTo, shown: string): void => {
      const servername = to.servername || to.hostname.replace(/^\[|\]$/g, '');
      const secure = tlsConnect({ ...options.registryTls, socket: raw, servername });
      socket = secure;
      secure.once('secureConnect', () => {
        secure.removeAllListeners('error');
        secure.removeAllListeners('close');
        finish(null, secure);
      });
      // A reset before the handshake ends is the tunnel closing (a proxy that answered 200 and
      // hung up); a certificate the registry's TLS sends is still its own error.
      secure.on('error', (error: NodeJS.ErrnoException) =>
        finish(
          error.code === 'ECONNRESET' || error.code === 'EPIPE'
            ? new TunnelError('closed', `the tunnel to ${shown} closed during the TLS handshake`)
            : error,
        ),
      );
      secure.once('close', () =>
        finish(new TunnelError('closed', `the tunnel to ${shown} closed during the TLS handshake`)),
      );
    };
  };
}
