import * as core from '@actions/core';
import { SecretMasker } from '../report/secrets.js';
import type { Logger } from '../util/logger.js';
import { oneLine } from '../util/text.js';

export type ActionsLogger = Logger & { masker: SecretMasker };

/**
 * The engine's Logger on the runner: groups, warnings and masked secrets through @actions/core. A
 * secret is registered with the runner in every form it can be shown in, and masked here as well in
 * what the runner does not mask itself (the job summary).
 */
export function actionsLogger(masker = new SecretMasker()): ActionsLogger {
  const clean = (m: string): string => masker.mask(oneLine(masker.mask(m)));
  return {
    masker,
    // Every line is one line: nothing a registry wrote can start a workflow command of its own.
    debug: (m) => core.debug(clean(m)),
    info: (m) => core.info(clean(m)),
    warning: (m) => core.warning(masker.mask(m)),
    secret: (v) => {
      for (const form of masker.add(v)) core.setSecret(form);
    },
    group: (name, fn) => core.group(name, fn),
  };
}
