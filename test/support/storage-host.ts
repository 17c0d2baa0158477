import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface StorageRequest {
  method: string;
  path: string;
  authorization: boolean;
  status: number;
}

export interface StorageHost {
  /** The base URL to give distribution's redirect middleware. */
  url: string;
  requests: StorageRequest[];
  /** Refuse every HEAD with 403, as ECR Public's storage does while it serves GET. */
  refuseHeads: boolean;
  stop(): Promise<void>;
}

/**
 * A storage host for distribution's `redirect` middleware: serves the registry's storage folder
 * on another loopback address, as S3 or Azure serve presigned URLs. Like them it refuses a request
 * that carries Authorization (S3: 400 "Only one auth mechanism allowed"), and records every one.
 */
export async function startStorageHost(root: string, address = '127.0.0.2'): Promise<StorageHost> {
  const requests: StorageRequest[] = [];
  const options = { refuseHeads: false };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://storage').pathname);
    const entry: StorageRequest = {
      method: req.method ?? 'GET',
      path,
      authorization: Boolean(req.headers.authorization),
      status: 0,
    };
    requests.push(entry);
    const send = (status: number, body = '', headers: Record<string, string> = {}): void => {
      entry.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (options.refuseHeads && req.method === 'HEAD') return send(403);
    if (req.headers.authorization) {
      send(
        400,
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>',
        { 'content-type': 'application/xml' },
      );
      return;
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return send(403);
    stat(file).then(
      (info) => {
        if (!info.isFile()) return send(404);
        entry.status = 200;
        res.writeHead(200, {
          'content-length': String(info.size),
          'content-type': 'application/octet-stream',
        });
        if (req.method === 'HEAD') res.end();
        else createReadStream(file).pipe(res);
      },
      () => send(404),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    requests,
    get refuseHeads() {
      return options.refuseHeads;
    },
    set refuseHeads(value: boolean) {
      options.refuseHeads = value;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
