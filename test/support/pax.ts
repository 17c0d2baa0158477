import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

const BLOCK = 512;

function field(buf: Buffer, offset: number, length: number, text: string): void {
  buf.write(text, offset, length, 'latin1');
}

/** A ustar header block with its checksum. */
export function ustarHeader(name: string, size: number, type: string, linkname = ''): Buffer {
  const h = Buffer.alloc(BLOCK);
  field(h, 0, 100, name);
  field(h, 100, 8, '0000644\0');
  field(h, 108, 8, '0000000\0');
  field(h, 116, 8, '0000000\0');
  field(h, 124, 12, `${size.toString(8).padStart(11, '0')}\0`);
  field(h, 136, 12, '00000000000\0');
  field(h, 148, 8, '        ');
  field(h, 156, 1, type);
  field(h, 157, 100, linkname);
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function padded(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest ? Buffer.concat([data, Buffer.alloc(BLOCK - rest)]) : data;
}

/** One pax record: its own length first, counting the digits of that length. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

/**
 * A tar in which every file's size and name are in its pax extended header, and the ustar size
 * field says 0: valid POSIX (pax records override the ustar fields), read so by GNU tar and Python.
 */
export function paxTar(files: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const records = Buffer.from(
      paxRecord('path', file.name) + paxRecord('size', String(file.data.length)),
    );
    parts.push(ustarHeader(`PaxHeaders/${file.name}`.slice(0, 99), records.length, 'x'));
    parts.push(padded(records));
    parts.push(ustarHeader(file.name.slice(0, 99), 0, '0'));
    parts.push(padded(file.data));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Every file below `dir`, named relative to it, for an archive of a layout. */
export async function filesOf(dir: string): Promise<{ name: string; data: Buffer }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const out: { name: string; data: Buffer }[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.push({ name: relative(dir, path), data: await readFile(path) });
  }
  return out;
}
