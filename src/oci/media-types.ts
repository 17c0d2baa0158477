export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export type ManifestKind = 'manifest' | 'index';

/** Which kind of document a manifest media type is, or undefined for one we cannot push. */
export function manifestKind(mediaType: string | undefined): ManifestKind | undefined {
  switch (mediaType) {
    case MediaType.ociManifest:
    case MediaType.dockerManifest:
      return 'manifest';
    case MediaType.ociIndex:
    case MediaType.dockerManifestList:
      return 'index';
    default:
      return undefined;
  }
}
