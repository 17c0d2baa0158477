import * as core from '@actions/core';
import type { Logger } from '../util/logger.js';

/** The engine's Logger on the runner: groups, warnings and masked secrets through @actions/core. */
export function actionsLogger(): Logger {
  return {
    debug: (m) => core.debug(m),
    info: (m) => core.info(m),
    warning: (m) => core.warning(m),
    secret: (v) => core.setSecret(v),
    group: (name, fn) => core.group(name, fn),
  };
}
