import { type Socket, connect as netConnect } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { formatDuration } from '../util/format.js';
import type { TunnelFault } from './errors.js';
import type { buildConnector } from './undici.js';

/**
 * A CONNECT tunnel that did not open: the proxy answered with a status, or it closed, stalled or
 * answered something that is not HTTP. It carries no `code` on purpose: after undici's own socket
 * codes, undici connects again at once, endlessly.
 */
export class TunnelError extends Error {
  override name = 'TunnelError';
  constructor(
    readonly failure: TunnelFault['failure'],
    message: string,
    readonly status?: number,
  ) {
    super(message);
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

type AnySocket = Socket | TLSSocket;

/** A reset once the proxy took the connection is the tunnel failing, like a close. */
function asTunnelError(error: NodeJS.ErrnoException, message: string): Error {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE'
    ? new TunnelError('closed', message)
    : error;
}

/** Resolves once `event` comes; rejects on an error or a close before it. */
function until(socket: AnySocket, event: string, closed: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      socket.off(event, ok);
      socket.off('close', onClose);
      reject(error);
    };
    const onError = (error: NodeJS.ErrnoException): void => fail(asTunnelError(error, closed));
    const onClose = (): void => fail(new TunnelError('closed', closed));
    const ok = (): void => {
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve();
    };
    socket.once(event, ok);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** Reads the proxy's answer to the CONNECT: 200, or the error that says what came instead. */
async function connectAnswer(socket: AnySocket, target: string): Promise<void> {
  const garbage = (): TunnelError =>
    new TunnelError('garbage', 'the proxy answered the CONNECT with something that is not HTTP');
  const closed = `the proxy closed the connection before a tunnel to ${target} was open`;
  let head = Buffer.alloc(0);
  for (;;) {
    const chunk = await new Promise<Buffer>((resolve, reject) => {
      socket.once('data', resolve);
      until(socket, 'data', closed).catch(reject);
    });
    head = Buffer.concat([head, chunk]);
    if (!'HTTP/'.startsWith(head.subarray(0, 5).toString('latin1'))) throw garbage();
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD) throw garbage();
      continue;
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
    if (!status) throw garbage();
    const code = Number(status[1]);
    if (code !== 200)
      throw new TunnelError('status', `Proxy response (${code}) !== 200 when HTTP Tunneling`, code);
    const rest = head.subarray(end + 4);
    if (rest.length) socket.unshift(rest);
    return;
  }
}

/** The CONNECT through the proxy, then TLS to the registry through it when the registry is https. */
async function openTunnel(
  options: TunnelOptions,
  to: buildConnector.Options,
  target: string,
  current: (socket: AnySocket) => void,
): Promise<AnySocket> {
  const { proxy } = options;
  const secureProxy = proxy.protocol === 'https:';
  const host = proxy.hostname.replace(/^\[|\]$/g, '');
  const port = Number(proxy.port) || (secureProxy ? 443 : 80);
  const raw = secureProxy
    ? tlsConnect({ ...options.proxyTls, host, port, servername: host })
    : netConnect(port, host);
  // Errors are read where a step waits (`until`); between steps none may crash the process.
  raw.on('error', () => undefined);
  current(raw);
  const closed = `the proxy reset the connection before a tunnel to ${target} was open`;
  await until(raw, secureProxy ? 'secureConnect' : 'connect', closed);
  const auth = options.authorization ? `Proxy-Authorization: ${options.authorization}\r\n` : '';
  raw.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
  await connectAnswer(raw, target);
  if (to.protocol !== 'https:') return raw;
  const servername = to.servername || to.hostname.replace(/^\[|\]$/g, '');
  const secure = tlsConnect({ ...options.registryTls, socket: raw, servername });
  secure.on('error', () => undefined);
  current(secure);
  await until(secure, 'secureConnect', `the tunnel to ${target} closed during the TLS handshake`);
  return secure;
}

/**
 * An undici connector (the Agent's public `connect` option) that opens a CONNECT tunnel through a
 * proxy and then TLS to the registry, with one deadline over both: the tunnel is a request like any
 * other, so a proxy that closes, stalls or answers garbage fails it once, and the retry budget
 * decides whether to try again.
 */
export function tunnelConnector(options: TunnelOptions): buildConnector.connector {
  return (to, done) => {
    const port = Number(to.port) || (to.protocol === 'https:' ? 443 : 80);
    const bare = to.hostname.replace(/^\[|\]$/g, '');
    const target = `${bare.includes(':') ? `[${bare}]` : bare}:${port}`;
    let socket: AnySocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const within = formatDuration(options.timeoutMs);
        reject(
          new TunnelError(
            'stalled',
            `the proxy did not open a tunnel to ${target} within ${within}`,
          ),
        );
      }, options.timeoutMs);
    });
    Promise.race([openTunnel(options, to, target, (s) => (socket = s)), stalled]).then(
      (open) => {
        clearTimeout(timer);
        done(null, open);
      },
      (error: Error) => {
        clearTimeout(timer);
        socket?.destroy();
        done(error, null);
      },
    );
  };
}
