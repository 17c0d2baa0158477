import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

/**
 * What a broken forward proxy (or a host that takes connections) does: close or reset at once,
 * answer the CONNECT and then close, never answer, or answer something that is not HTTP.
 */
export type HostileMode =
  'close' | 'reset' | 'close-after-connect' | 'stall' | 'stall-after-connect' | 'garbage';

export interface HostileServer {
  url: string;
  host: string;
  /** Connections accepted, and CONNECT requests read. */
  connections: number;
  connects: number;
  stop(): Promise<void>;
}

export async function startHostileServer(
  mode: HostileMode,
  address = '127.0.0.1',
): Promise<HostileServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, connects: 0 };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (mode === 'close' || mode === 'reset') {
      if (mode === 'reset') socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      if (head.startsWith('CONNECT ')) state.connects++;
      head = '';
      if (mode === 'garbage') socket.write('SSH-2.0-OpenSSH_9.2\r\n\r\n');
      if (mode === 'close-after-connect' || mode === 'stall-after-connect')
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (mode === 'close-after-connect') socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    host: `${address}:${port}`,
    get connections() {
      return state.connections;
    },
    get connects() {
      return state.connects;
    },
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
