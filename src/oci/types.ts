import { isDigest } from './digest.js';
import * as z from './schema.js';

const digest = z
  .string()
  .check(z.refine(isDigest, { message: 'not a valid sha256 or sha512 digest' }));
const annotations = z.optional(z.record(z.string(), z.string()));

/**
 * RFC 6838's restricted names: `type/subtype`, each 1 to 127 of letters, digits and
 * `!#$&^_.+-`, starting with a letter or digit; parameters as `; name=value` without spaces,
 * quotes or controls. Nothing else reaches a registry, a log or a summary as a media type.
 */
const RESTRICTED_NAME = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
export const MEDIA_TYPE = new RegExp(
  `^${RESTRICTED_NAME}/${RESTRICTED_NAME}(?:;${RESTRICTED_NAME}=[A-Za-z0-9!#$&^_.+-]{1,127})*$`,
);
export function isMediaType(text: string): boolean {
  return MEDIA_TYPE.test(text);
}
const mediaType = z.string().check(
  z.refine(isMediaType, {
    message: 'not a media type (RFC 6838: type/subtype, no spaces or control characters)',
  }),
);

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.optional(z.string()),
  'os.features': z.optional(z.array(z.string())),
  variant: z.optional(z.string()),
});

export const descriptorSchema = z.object({
  mediaType,
  digest,
  size: z.int().check(z.nonnegative()),
  urls: z.optional(z.array(z.string())),
  annotations,
  platform: z.optional(platformSchema),
  artifactType: z.optional(mediaType),
});

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(mediaType),
  artifactType: z.optional(mediaType),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: z.optional(descriptorSchema),
  annotations,
});

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(mediaType),
  artifactType: z.optional(mediaType),
  manifests: z.array(descriptorSchema),
  subject: z.optional(descriptorSchema),
  annotations,
});

export const layoutMarkerSchema = z.object({ imageLayoutVersion: z.string() });

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type ImageManifest = z.infer<typeof manifestSchema>;
export type ImageIndex = z.infer<typeof indexSchema>;
export type Schema<T> = z.ZodMiniType<T>;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export function formatPlatform(platform: Platform | undefined): string | undefined {
  if (!platform) return undefined;
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** Turns a validation failure into one short line for a user: the first issue, with its path. */
export function describeSchemaError(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid document';
  const path = issue.path.length ? issue.path.map(String).join('.') : '(root)';
  return `${path}: ${issue.message}`;
}
