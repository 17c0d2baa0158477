/** Input names, shared by action.yml, the action and the CLI's flags. */
export const Input = {
  layout: 'layout',
  image: 'image',
  engine: 'engine',
  compression: 'compression',
  maxImageSize: 'max-image-size',
  tags: 'tags',
  username: 'username',
  password: 'password',
  registry: 'registry',
  insecure: 'insecure',
  concurrency: 'concurrency',
  retries: 'retries',
  requestTimeout: 'request-timeout',
  uploadMode: 'upload-mode',
  chunkSize: 'chunk-size',
  summary: 'summary',
  diagnose: 'diagnose',
  caFile: 'ca-file',
  githubToken: 'github-token',
  pushByDigest: 'push-by-digest',
  indexFrom: 'index-from',
  mountFrom: 'mount-from',
  annotations: 'annotations',
  digestFile: 'digest-file',
  platforms: 'platforms',
  dryRun: 'dry-run',
  duplicatePlatforms: 'duplicate-platforms',
} as const;

export type InputName = (typeof Input)[keyof typeof Input];

/** Defaults, which action.yml must repeat exactly (a test checks it). */
export const INPUT_DEFAULTS: Partial<Record<InputName, string>> = {
  [Input.engine]: 'auto',
  [Input.compression]: 'gzip',
  [Input.insecure]: 'false',
  [Input.concurrency]: '4',
  [Input.retries]: '5',
  [Input.requestTimeout]: '30s',
  [Input.uploadMode]: 'auto',
  [Input.chunkSize]: '50MiB',
  [Input.summary]: 'true',
  [Input.diagnose]: 'on-failure',
  [Input.pushByDigest]: 'false',
  [Input.dryRun]: 'false',
  [Input.duplicatePlatforms]: 'refuse',
};

/** Defaults that are workflow expressions: action.yml has them, the runner evaluates them. */
export const EXPRESSION_DEFAULTS: Partial<Record<InputName, string>> = {
  [Input.githubToken]: '${{ github.token }}',
};
