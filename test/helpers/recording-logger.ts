/**
 * A Logger that keeps every line it is given, for tests that check what a
 * handler logged (and that it never logged a secret).
 */
import type { Logger } from '../../clients/oncrpc/logger.js';

export interface LoggedLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

export function recordingLogger(): { log: Logger; logs: LoggedLine[] } {
  const logs: LoggedLine[] = [];
  const log: Logger = {
    info: (msg, fields) => logs.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => logs.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => logs.push({ level: 'error', msg, fields }),
  };
  return { log, logs };
}
