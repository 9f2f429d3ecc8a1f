/**
 * Fixtures for the membership, lease, fencing and sharding tests (not a test
 * file): one "cluster" per test on either bus. On NATS every cluster gets a
 * fresh namespace, and `connect()` opens a separate connection per simulated
 * host, so hosts race over the server as real ones would.
 */
import { randomBytes } from 'node:crypto';
import { names, type Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { createLogger, type Logger } from '../../actors/runtime/log.js';
import { NATS_URL, deleteNamespace, fastTopology } from '../integration/nats-fixtures.js';

export { NATS_URL };

export interface ClusterBus {
  kind: 'embedded' | 'nats';
  names: Names;
  /** A transport for one simulated host (embedded: the one shared bus). */
  connect(): Promise<Transport>;
  /** Close every transport and delete what the namespace created. */
  cleanup(): Promise<void>;
}

export function freshNamespace(): Names {
  return names(`t${randomBytes(6).toString('hex')}`);
}

export async function embeddedBus(): Promise<ClusterBus> {
  const n = freshNamespace();
  const bus = new EmbeddedTransport({ names: n });
  await bus.provision();
  return {
    kind: 'embedded',
    names: n,
    connect: async () => bus,
    cleanup: () => bus.close(),
  };
}

export async function natsBus(servers: string = NATS_URL): Promise<ClusterBus> {
  const n = freshNamespace();
  const open: Transport[] = [];
  const first = await connectNats({ servers, names: n, topology: fastTopology() });
  open.push(first);
  await first.provision();
  let firstTaken = false;
  return {
    kind: 'nats',
    names: n,
    connect: async () => {
      // The provisioning connection serves the first host; the rest get their own.
      if (!firstTaken) {
        firstTaken = true;
        return first;
      }
      const t = await connectNats({ servers, names: n, topology: fastTopology() });
      open.push(t);
      return t;
    },
    cleanup: async () => {
      await Promise.all(open.map((t) => t.close().catch(() => undefined)));
      await deleteNamespace(servers, n);
    },
  };
}

export const BUSES: ReadonlyArray<{ kind: 'embedded' | 'nats'; make: () => Promise<ClusterBus> }> = [
  { kind: 'embedded', make: embeddedBus },
  { kind: 'nats', make: () => natsBus() },
];

export function quietLogger(nodeId = 'test'): Logger {
  return createLogger({ nodeId, level: process.env.SW_TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent', destination: 2 });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until `cond` holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, cond: () => boolean | Promise<boolean>, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
