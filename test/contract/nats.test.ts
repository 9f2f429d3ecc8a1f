/**
 * The transport contract against NatsTransport on the local JetStream
 * (127.0.0.1:4222, or SW_TEST_NATS_URL). Each test gets a fresh namespace and
 * deletes its streams and buckets afterwards, so runs never share state.
 */
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { NATS_URL, deleteNamespace, freshNames } from '../integration/nats-fixtures.js';
import { runTransportContract } from './transport.contract.js';

runTransportContract(
  'nats',
  async (topology) => {
    const n = freshNames();
    const transport = await connectNats({ servers: NATS_URL, names: n, topology, name: `contract-${n.namespace}` });
    return {
      transport,
      names: n,
      cleanup: async () => {
        await transport.close();
        await deleteNamespace(NATS_URL, n);
      },
    };
  },
  // The MaxDeliver advisory path (get, publish to the DLQ, delete) takes a
  // few server round trips after the last AckWait.
  { graceMs: 5000 },
);
