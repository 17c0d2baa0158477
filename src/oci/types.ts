import { z } from 'zod';
import { isDigest } from './digest.js';

const digest = z.string().refine(isDigest, { message: 'not a valid sha256 or sha512 digest' });
const annotations = z.record(z.string(), z.string()).optional();

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});

export const descriptorSchema = z.object({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations,
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations,
});

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations,
});

export const layoutMarkerSchema = z.object({ imageLayoutVersion: z.string() });

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type ImageManifest = z.infer<typeof manifestSchema>;
export type ImageIndex = z.infer<typeof indexSchema>;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export function formatPlatform(platform: Platform | undefined): string | undefined {
  if (!platform) return undefined;
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** Turns a zod error into one short line for a user: the first issue, with its path. */
export function describeSchemaError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid document';
  const path = issue.path.length ? issue.path.join('.') : '(root)';
  return `${path}: ${issue.message}`;
}
