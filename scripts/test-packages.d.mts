/** Binary path → the Debian package that provides it. */
export declare const REQUIRED: Record<string, string>;
export declare const SCREENSHOTS: Record<string, string>;
