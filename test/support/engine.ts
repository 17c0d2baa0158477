import type { InputName } from '../../src/config/inputs.js';
import { type PushSettings, readPushSettings } from '../../src/config/settings.js';
import type { Logger } from '../../src/util/logger.js';
import { executePush } from '../../src/push/execute.js';
import type { PushResult } from '../../src/push/result.js';
import type { Clock } from '../../src/util/clock.js';

export interface FakeClock extends Clock {
  slept: number[];
}

/** Time that moves only when the engine sleeps, and sleeping costs nothing. */
export function fakeClock(random = 0.5, start = Date.now()): FakeClock {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    random: () => random,
  };
}

export interface CapturingLogger extends Logger {
  lines: string[];
  secrets: string[];
}

export function captureLogger(): CapturingLogger {
  const lines: string[] = [];
  const secrets: string[] = [];
  return {
    lines,
    secrets,
    debug: (m) => lines.push(`debug: ${m}`),
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    secret: (v) => secrets.push(v),
    group: async (name, fn) => {
      lines.push(`== ${name}`);
      return fn();
    },
  };
}

export interface EngineRun {
  result: PushResult;
  logger: CapturingLogger;
  clock: FakeClock;
  settings: PushSettings;
}

/** Pushes through the engine in-process, with inputs given as the action would get them. */
export async function pushWithEngine(
  raw: Partial<Record<InputName, string>>,
  env: NodeJS.ProcessEnv = { HOME: '/nonexistent' },
): Promise<EngineRun> {
  const settings = await readPushSettings((name) => raw[name] ?? '');
  const logger = captureLogger();
  const clock = fakeClock();
  const result = await executePush(settings, { logger, clock, env });
  return { result, logger, clock, settings };
}
