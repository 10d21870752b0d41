/**
 * The logging interface the RPC layer writes to. The RPC layer never prints on
 * its own: daemons pass a real logger, tests and libraries a silent one.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
};

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** One JSON line per event on stderr: time, level, component, message, fields. */
export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] > RANK[level]) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: lvl, component, msg, ...fields })}\n`,
    );
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
