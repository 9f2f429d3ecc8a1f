/**
 * The bus, chosen by configuration: NATS JetStream when `nats.url` is set
 * (cluster mode), otherwise the in-process embedded bus (`npm start` on a
 * bare machine). Callers get a Transport and must not care which.
 */
import { natsAuthOptions } from './nats-auth.js';
import type { Config } from '../../../config/load.js';
import { names } from '../../../protocol/names.js';
import { DEFAULT_TOPOLOGY, type TopologySettings } from '../../../protocol/topology.js';
import type { Transport } from '../../../protocol/transport.js';
import { EmbeddedTransport } from './embedded.js';
import { connectNats } from './nats.js';

export { EmbeddedTransport, type EmbeddedTransportOptions } from './embedded.js';
export { NatsTransport, connectNats, type NatsTransportOptions } from './nats.js';

export interface CreateTransportOptions {
  /** Connection name the NATS server shows for this process. */
  name?: string;
  /** Create/verify streams, consumers and buckets before returning (default true). */
  provision?: boolean;
  /** Errors from background work (consume loops, advisories); NATS only. */
  onError?: (err: unknown, context: string) => void;
}

/** The topology settings a config asks for. */
export function topologySettings(cfg: Config): TopologySettings {
  return {
    ...DEFAULT_TOPOLOGY,
    ackWaitMs: cfg.work.ackWaitMs,
    maxDeliver: cfg.work.maxDeliver,
    dedupeWindowMs: cfg.work.dedupeWindowMs,
    replicas: cfg.nats.replicas,
  };
}

export async function createTransport(cfg: Config, opts: CreateTransportOptions = {}): Promise<Transport> {
  const n = names(cfg.namespace);
  const topology = topologySettings(cfg);
  let transport: Transport;
  if (cfg.nats.url) {
    const servers = cfg.nats.url
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    transport = await connectNats({
      servers,
      auth: natsAuthOptions(cfg.nats),
      names: n,
      topology,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
    });
  } else {
    transport = new EmbeddedTransport({ names: n, topology });
  }
  if (opts.provision ?? true) {
    try {
      await transport.provision();
    } catch (err) {
      await transport.close().catch(() => undefined);
      throw err;
    }
  }
  return transport;
}
