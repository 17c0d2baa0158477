import * as core from '@actions/core';
import type { Logger } from '../util/logger.js';
import { oneLine } from '../util/text.js';

/** The engine's Logger on the runner: groups, warnings and masked secrets through @actions/core. */
export function actionsLogger(): Logger {
  return {
    // Every line is one line: nothing a registry wrote can start a workflow command of its own.
    debug: (m) => core.debug(oneLine(m)),
    info: (m) => core.info(oneLine(m)),
    warning: (m) => core.warning(m),
    secret: (v) => core.setSecret(v),
    group: (name, fn) => core.group(name, fn),
  };
}
