/**
 * One logger factory for every process: pino, with the node and role bound
 * once so every line can be traced to its process. JSON lines, except on a
 * terminal, where people read them: there (format `auto`, the default) each
 * line is readable text (pino-pretty, written synchronously like the JSON).
 * Convention for child loggers: `actor` (`kind/id`) for an actor's lines,
 * `host` for an actor host's.
 */
import { isatty } from 'node:tty';
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  nodeId: string;
  role?: string;
  level?: LevelWithSilent;
  /** A stream, a file descriptor (1 = stdout, 2 = stderr) or a file path; default stdout. */
  destination?: DestinationStream | number | string;
  /** auto (default): readable text when the destination is a terminal, JSON lines otherwise. */
  format?: 'auto' | 'json' | 'pretty';
}

/** Whether lines to `dest` should be readable text rather than JSON. */
export function prettyFor(dest: number | undefined, format: LoggerOptions['format'] = 'auto'): boolean {
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return dest !== undefined && isatty(dest);
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
  const fd = dest === undefined ? 1 : typeof dest === 'number' ? dest : undefined;
  if (fd !== undefined && prettyFor(fd, options.format)) {
    return pino(
      opts,
      pretty({
        destination: fd,
        sync: true,
        colorize: isatty(fd),
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,node,role,host',
        messageFormat: '{if role}{role}{end}{if host} {host}{end}: {msg}',
        singleLine: true,
      }),
    );
  }
  if (dest === undefined) return pino(opts);
  if (typeof dest === 'number' || typeof dest === 'string') {
    // sync: a crashing process must not lose its last lines in a buffer.
    return pino(opts, pino.destination({ dest, sync: true }));
  }
  return pino(opts, dest);
}
