import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EarlyConnections } from '../../src/registry/early-connections.js';
import { TlsSessions, trustingConnector } from '../../src/registry/host-trust.js';
import { proxySettingsFrom } from '../../src/registry/proxy.js';

let server: Server;
let port: number;
let accepted: Socket[];

beforeEach(async () => {
  accepted = [];
  server = createServer((socket) => void accepted.push(socket.on('error', () => undefined)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const none = proxySettingsFrom({});

/**
 * A port whose TCP handshakes stall, as a distant host's that drops them: a listener in a stopped
 * process, its accept queue filled, so the kernel drops further SYNs.
 */
async function stalledPort(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
        process.stdout.write(String(s.address().port) + '\\n', () => process.kill(process.pid, 'SIGSTOP'));
      });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = Number((await once(child.stdout!, 'data'))[0].toString().trim());
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    port,
    stop: () => {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('EarlyConnections', () => {
  it('hands the connection it opened to the first https dial of its host and port, once', async () => {
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${port}`);
    const taken = await early.take('127.0.0.1', String(port));
    const socket = taken && 'socket' in taken ? taken.socket : undefined;
    expect(socket?.remotePort).toBe(port);
    expect(accepted).toHaveLength(1);
    expect(early.take('127.0.0.1', String(port))).toBeUndefined();
    socket!.destroy();
  });

  it('opens nothing to a loopback host, which connects at once and mostly speaks plain http', () => {
    const early = EarlyConnections.open([`127.0.0.1:${port}`, `localhost:${port}`], {
      proxies: none,
      requestMs: 30_000,
    });
    expect(early.take('127.0.0.1', String(port))).toBeUndefined();
    expect(early.take('localhost', String(port))).toBeUndefined();
  });

  it('opens nothing to a host reached through a proxy', () => {
    const proxies = proxySettingsFrom({ HTTPS_PROXY: 'http://proxy.example:3128' });
    const early = EarlyConnections.open(['registry.example'], { proxies, requestMs: 30_000 });
    expect(early.take('registry.example', '')).toBeUndefined();
  });

  it('a host and port named twice, or in another case, is dialled once', async () => {
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${port}`);
    early.dial(`127.0.0.1:${port}`);
    const taken = await early.take('127.0.0.1', String(port));
    expect(taken && 'socket' in taken).toBe(true);
    expect(early.take('127.0.0.1', String(port))).toBeUndefined();
    // Long enough for a second connection, had one been dialled, to be accepted on loopback.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(accepted).toHaveLength(1);
    if (taken && 'socket' in taken) taken.socket.destroy();
    const named = EarlyConnections.open(['Registry.Example', 'registry.example:443'], {
      proxies: none,
      requestMs: 30_000,
    });
    expect(named.take('registry.example', '443')).toBeInstanceOf(Promise);
    expect(named.take('REGISTRY.EXAMPLE', '')).toBeUndefined();
    named.destroy();
  });

  it('a connection that failed is no connection: the dial in its place reports the failure', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${closed}`);
    expect(await early.take('127.0.0.1', String(closed))).toBeUndefined();
  });

  it('one the server closed while it waited is not handed on', async () => {
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${port}`);
    await expect.poll(() => accepted.length).toBe(1);
    accepted[0]!.destroy();
    // Long enough for the close to reach the waiting socket on loopback, even on a busy machine.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await early.take('127.0.0.1', String(port))).toBeUndefined();
  });

  it('one that missed its deadline says so, and is closed', async () => {
    const stalled = await stalledPort();
    try {
      const early = new EarlyConnections(100);
      early.dial(`127.0.0.1:${stalled.port}`);
      expect(await early.take('127.0.0.1', String(stalled.port))).toEqual({ timedOutMs: 100 });
    } finally {
      stalled.stop();
    }
  });

  it('destroy closes the connections no request took', async () => {
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${port}`);
    await expect.poll(() => accepted.length).toBe(1);
    const ended = new Promise((resolve) => accepted[0]!.once('close', resolve));
    early.destroy();
    await ended;
    expect(early.take('127.0.0.1', String(port))).toBeUndefined();
  });
});

describe('the first https dial of a host', () => {
  const trust = { key: 'strict', full: () => ({}) };
  const dialOnce = (early: EarlyConnections, timeout = 5_000, to = port) =>
    new Promise<{ error: Error | null; socket: Socket | null }>((resolve) =>
      trustingConnector(
        trust,
        { timeout },
        new TlsSessions(),
        early,
      )(
        { hostname: '127.0.0.1', host: `127.0.0.1:${to}`, protocol: 'https:', port: String(to) },
        (error, socket) => resolve({ error, socket: socket as Socket | null }),
      ),
    );

  it('makes its TLS handshake over the early connection, not a new one', async () => {
    const early = new EarlyConnections(5_000);
    early.dial(`127.0.0.1:${port}`);
    // The server speaks no TLS: the ClientHello is all it sees, on the one connection it accepted.
    const hello = new Promise<Buffer>((resolve) =>
      server.once('connection', (socket) => socket.once('data', resolve)),
    );
    const dialled = dialOnce(early, 300);
    expect((await hello)[0]).toBe(22);
    expect(accepted).toHaveLength(1);
    accepted[0]!.destroy();
    expect((await dialled).error).toBeTruthy();
    expect(accepted).toHaveLength(1);
  });

  it('fails as a connect timeout when the early connection missed its deadline', async () => {
    const stalled = await stalledPort();
    try {
      const early = new EarlyConnections(100);
      early.dial(`127.0.0.1:${stalled.port}`);
      // Not a second wait of the dial's own deadline (60 s here) after the first.
      const { error } = await dialOnce(early, 60_000, stalled.port);
      expect((error as { code?: string }).code).toBe('UND_ERR_CONNECT_TIMEOUT');
      expect(error?.message).toContain(`127.0.0.1:${stalled.port}, timeout: 100ms`);
    } finally {
      stalled.stop();
    }
  });
});
