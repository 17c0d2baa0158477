/** How the engine reports. The action maps it onto @actions/core; the CLI and tests onto their own sinks. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  /** Registers a value that must never be printed: a password, a token, a config `auth` value. */
  secret(value: string): void;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * A live status line for `id` (a running upload), redrawn in place on a terminal; undefined
   * removes it. Loggers without a terminal leave it out, and get periodic lines instead.
   */
  live?(id: string, line: string | undefined): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warning: () => undefined,
  secret: () => undefined,
  group: (_name, fn) => fn(),
};
