/**
 * One logger factory for every process: pino, JSON lines, with the node and
 * role bound once so every line can be traced to its process. Convention for
 * child loggers: `actor` (`kind/id`) for an actor's lines, `host` for an
 * actor host's.
 */
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  nodeId: string;
  role?: string;
  level?: LevelWithSilent;
  /** A stream, a file descriptor (1 = stdout, 2 = stderr) or a file path; default stdout. */
  destination?: DestinationStream | number | string;
}

export function createLogger(options: LoggerOptions): Logger {
  const base: Record<string, unknown> = { node: options.nodeId };
  if (options.role !== undefined) base['role'] = options.role;
  const opts = {
    level: options.level ?? 'info',
    base,
    // `err` is pino's convention; serialise `error` the same way so either key shows stack and code.
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  const dest = options.destination;
  if (dest === undefined) return pino(opts);
  if (typeof dest === 'number' || typeof dest === 'string') {
    // sync: a crashing process must not lose its last lines in a buffer.
    return pino(opts, pino.destination({ dest, sync: true }));
  }
  return pino(opts, dest);
}
