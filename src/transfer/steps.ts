import type { UploadStart } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { InputError } from '../util/errors.js';
import type { Active, MachineContext, Session } from './blob-state.js';
import { checkFileDigest, fileBody, fileRange } from './body.js';
import { type Next, go } from './learned.js';
import { CHUNK_FLOOR } from './policy.js';

/**
 * The bytes are not hashed as they go out: the registry checks them against the digest. When it
 * refuses them (DIGEST_INVALID), the local file is hashed once, so the rules can tell a corrupt
 * layout (said as such, naming the file) from bytes changed on the way.
 */
export async function explained(
  ctx: MachineContext,
  state: Active,
  error: unknown,
): Promise<{ error: unknown; intact?: true }> {
  const refused =
    error instanceof RegistryError && error.codes.some((c) => c.code === 'DIGEST_INVALID');
  if (!refused || ctx.attempts.fileChecked || (state.name !== 'put' && state.name !== 'commit'))
    return { error };
  try {
    await checkFileDigest(ctx.blob);
  } catch (corrupt) {
    return { error: corrupt };
  }
  return { error, intact: true };
}

/** A state that sends a request, by its name. */
export type StateOf<N extends Active['name']> = Extract<Active, { name: N }>;

/** Whether a HEAD's answer says the registry holds this blob: there, with our size when it says one. */
export function holds(stat: { exists: boolean; size?: number }, size: number): boolean {
  return stat.exists && (stat.size === undefined || stat.size === size);
}

/** HEAD: present with our size is done; missing goes to a mount or a new session. */
export async function checkExists(ctx: MachineContext): Promise<Next> {
  const stat = await ctx.client.statBlob(ctx.blob.digest, 'exists');
  if (holds(stat, ctx.blob.size)) return go({ name: 'done', how: 'present' });
  // A source the registry refused once (no pull access there) is not asked again.
  const refused = ctx.mountFrom && ctx.client.registry.profile.mountsRefusedFrom.has(ctx.mountFrom);
  return go(ctx.mountFrom && !refused ? { name: 'mount' } : { name: 'open' });
}

/** POST with `mount`: 201 mounted, or 202 a session that takes the upload instead. */
export async function mountFrom(ctx: MachineContext): Promise<Next> {
  // Never mount bytes the layout does not hold: the file must hash to the digest first.
  if (!ctx.mountOnly) await (ctx.proof ? ctx.proof.proven(ctx.blob) : checkFileDigest(ctx.blob));
  const start = await ctx.client.startUpload({ digest: ctx.blob.digest, from: ctx.mountFrom! });
  if (start.mounted) return go({ name: 'mount-verify' });
  if (ctx.mountOnly) throw notMountable(ctx, start.location);
  // A 202: the registry did not have it there, and this session takes the upload instead.
  return begin(ctx, start);
}

/** HEAD after a mount: it must read back as ours. */
export async function verifyMount(ctx: MachineContext): Promise<Next> {
  await verify(ctx, 'mount-verify');
  return go({ name: 'done', how: 'mounted' });
}

/** POST: a new upload session. */
export async function openSession(ctx: MachineContext): Promise<Next> {
  const start = await ctx.client.startUpload();
  if (start.mounted) throw new Error('the registry answered a plain upload as a mount');
  return begin(ctx, start);
}

/** PUT: the whole blob in one body. */
export async function putBody(ctx: MachineContext, state: StateOf<'put'>): Promise<Next> {
  const { blob } = ctx;
  await ctx.client.putBlob(state.session.location, blob.digest, blob.size, fileBody(blob), {
    onProgress: ctx.onProgress,
  });
  return go({ name: 'verify' }, { fact: 'body-sent' });
}

/** GET the session: where the upload stands, to resume from there. */
export async function askStatus(ctx: MachineContext, state: StateOf<'status'>): Promise<Next> {
  const status = await ctx.client.uploadStatus(state.session.location);
  // Never trust a registry's offset past the bytes actually sent.
  const offset = Math.min(status.offset, state.sent);
  ctx.logger.info(`${ctx.blob.digest}: resuming the upload at byte ${offset}`);
  const session = { ...state.session, location: status.location };
  return go({ name: 'patch', session, offset, size: state.size }, { fact: 'resumed' });
}

/** PUT with the digest after the last chunk. */
export async function commit(ctx: MachineContext, state: StateOf<'commit'>): Promise<Next> {
  await ctx.client.commitUpload(state.session.location, ctx.blob.digest, ctx.blob.size);
  return go({ name: 'verify' });
}

/** DELETE the session (best effort), then go where the edge it stands for leads. */
export async function cancel(ctx: MachineContext, state: StateOf<'cancel'>): Promise<Next> {
  await ctx.client.cancelUpload(state.session.location);
  return go(state.then);
}

/** HEAD after a commit: the blob must read back as sent. */
export async function verifyUpload(ctx: MachineContext): Promise<Next> {
  await verify(ctx, 'verify');
  return go({ name: 'done', how: ctx.attempts.method }, { fact: 'verified' });
}

/** The manifest PUT said the registry lost this blob: that answer is the step's failure. */
export async function vanished(_ctx: MachineContext, state: StateOf<'vanished'>): Promise<Next> {
  throw state.error;
}

/** One chunk; the session goes on from where it ends, or commits after the last. */
export async function sendChunk(ctx: MachineContext, state: StateOf<'patch'>): Promise<Next> {
  const { client, blob } = ctx;
  const length = Math.min(state.size, blob.size - state.offset);
  const base = state.offset;
  const location = await client.patchChunk(
    state.session.location,
    state.offset,
    length,
    fileRange(blob.path, state.offset, length),
    { onProgress: ctx.onProgress && ((n) => ctx.onProgress!(base + n)) },
  );
  const session = { ...state.session, location };
  const offset = state.offset + length;
  const sent = { fact: 'chunk-sent', size: state.size, length } as const;
  return offset < blob.size
    ? go({ name: 'patch', session, offset, size: state.size }, sent)
    : go({ name: 'commit', session }, sent);
}

/** A blob with no local copy that the registry would not mount: the session is dropped. */
function notMountable(ctx: MachineContext, location: URL): Error {
  void ctx.client.cancelUpload(location);
  return new InputError(
    `blob ${ctx.blob.digest} cannot be mounted from ${ctx.mountFrom}, and there is no local copy to upload`,
  );
}

/** A new session: one body, or chunks when the mode, the host or an earlier refusal says so. */
function begin(ctx: MachineContext, start: Extract<UploadStart, { mounted: false }>): Next {
  const { policy, blob, attempts: a } = ctx;
  const profile = ctx.client.registry.profile;
  const session: Session = {
    location: start.location,
    minChunk: start.minChunk,
    maxChunk: start.maxChunk,
    openedAt: ctx.clock.now(),
  };
  const chunked =
    a.method === 'chunked' ||
    policy.mode === 'chunked' ||
    (policy.mode === 'auto' && profile.prefersChunks(blob.size));
  const opened = { fact: 'session-opened', method: chunked ? 'chunked' : 'monolithic' } as const;
  if (!chunked) return go({ name: 'put', session }, opened);
  const size = effectiveChunkSize(
    profile.chunkSize(policy.chunkSize),
    start.minChunk,
    start.maxChunk,
  );
  return go({ name: 'patch', session, offset: 0, size }, opened);
}

/** The chunk size within the registry's window and our floor. */
export function effectiveChunkSize(requested: number, min?: number, max?: number): number {
  let size = Math.max(requested, CHUNK_FLOOR);
  if (min !== undefined && size < min) size = min;
  if (max !== undefined && max > 0 && size > max) size = max;
  return size;
}

/**
 * HEAD after a commit or a mount: the registry must serve the blob with our size and digest (a
 * digest of the same algorithm: distribution reports sha256 even for a sha512 upload). Anything
 * else is thrown as the answer it was, for the rules.
 */
async function verify(ctx: MachineContext, op: 'verify' | 'mount-verify'): Promise<void> {
  const { client, blob } = ctx;
  const stat = await client.statBlob(blob.digest, 'verify');
  const sameAlgorithm = stat.digest?.split(':')[0] === blob.digest.split(':')[0];
  const reason = !stat.exists
    ? `HEAD answered ${stat.status} after the upload was acknowledged`
    : stat.digest && sameAlgorithm && stat.digest !== blob.digest
      ? `the registry reports digest ${stat.digest}`
      : stat.size !== undefined && stat.size !== blob.size
        ? `the registry reports ${stat.size} bytes, expected ${blob.size}`
        : undefined;
  if (!reason) return;
  throw new RegistryError({
    method: 'HEAD',
    op,
    url: new URL(`/v2/${client.repository}/blobs/${blob.digest}`, client.registry.baseUrl),
    status: stat.status,
    mismatch: stat.exists ? reason : undefined,
    context: reason,
  });
}
