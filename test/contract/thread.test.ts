/**
 * The transport contract against a ThreadTransport whose EmbeddedTransport
 * lives on another (real worker) thread behind serveTransport(): the bridge
 * must be invisible to everything above the Transport interface.
 */
import { ThreadTransport } from '../../actors/runtime/transport/thread-client.js';
import { names } from '../../protocol/names.js';
import { startBusThread } from '../fixtures/thread-bus.js';
import { runTransportContract } from './transport.contract.js';

runTransportContract('thread bridge (embedded bus on a worker thread)', async (topology) => {
  const n = names(`t${Math.random().toString(36).slice(2, 10)}`);
  const bus = await startBusThread(n.namespace, topology);
  const transport = new ThreadTransport(bus.port);
  return {
    transport,
    names: n,
    cleanup: async () => {
      await transport.close();
      await bus.terminate();
    },
  };
});
