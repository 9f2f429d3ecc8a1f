/**
 * The task-handler plugin hook: STARWEATHER_EXTRA_HANDLERS (config
 * `plugins.handlers`) names modules that a host consuming work queues loads
 * at start. A plugin module exports
 *
 *   export function register(registrar: HandlerRegistrar, context: PluginContext): void | Promise<void>
 *
 * (or the same function as its default export) and calls
 * `registrar.task(kind, handler)` for each task kind it handles. Operators use
 * it to add task kinds without forking the code; tests use it to give a
 * worker a real handler before the domain handlers exist.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { StarWeatherError } from '../../protocol/errors.js';
import type { Role } from '../../protocol/messages/cluster.js';
import type { Transport } from '../../protocol/transport.js';
import type { TaskHandler } from '../runtime/worker.js';

export interface HandlerRegistrar {
  task<S extends TSchema>(kind: string, handler: TaskHandler<S>): void;
}

export interface PluginContext {
  role: Role;
  hostId: string;
  nodeId: string;
  config: Config;
  logger: Logger;
  transport: Transport;
}

export type RegisterFn = (registrar: HandlerRegistrar, context: PluginContext) => void | Promise<void>;

/** A plugin that cannot be loaded or fails to register: the host does not start. */
export class PluginError extends StarWeatherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_INVALID_ARGUMENT', message, options);
  }
}

/** Import each module and let it register its handlers. Throws PluginError naming the module. */
export async function loadHandlerPlugins(paths: readonly string[], registrar: HandlerRegistrar, context: PluginContext): Promise<void> {
  for (const p of paths) {
    const file = isAbsolute(p) ? p : resolve(process.cwd(), p);
    let mod: { register?: unknown; default?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (err) {
      throw new PluginError(`handler plugin ${file} could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    const register = typeof mod.register === 'function' ? mod.register : typeof mod.default === 'function' ? mod.default : null;
    if (!register) throw new PluginError(`handler plugin ${file} exports neither register() nor a default function`);
    try {
      await (register as RegisterFn)(registrar, context);
    } catch (err) {
      throw new PluginError(`handler plugin ${file} failed to register: ${(err as Error).message}`, { cause: err });
    }
    context.logger.info({ plugin: file }, 'handler plugin loaded');
  }
}
