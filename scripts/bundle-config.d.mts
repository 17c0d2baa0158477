import type { Metafile, Plugin } from 'esbuild';
export declare const ROOT: string;
export declare const MAX_DIST_BYTES: number;
export declare function leaveOut(): Plugin;
export declare function bundle(outdir?: string): Promise<Metafile>;
