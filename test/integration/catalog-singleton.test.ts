/**
 * The catalog ingest is a singleton: two ingest actors on the same bus
 * (embedded, and NATS 2.9 in a fresh namespace) elect one leader by lease,
 * only the leader downloads, and when the leader dies without releasing
 * (a crash) the other takes over once the lease has expired. A refresh
 * request is answered by the leader only.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BUSES, quietLogger, sleep, until, type ClusterBus } from '../helpers/cluster-fixtures.js';
import { openTestPglite, type TestBackend } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { CatalogIngest, CATALOG_LEASE_KEY } from '../../actors/ingest/catalog-actor.js';
import { CatalogRefreshMessage, CatalogRefreshReplyMessage, CatalogChangedMessage, type CatalogRefreshReply } from '../../protocol/messages/catalog.js';
import { catalogConfig, ommRecord, startGpServer } from './catalog-fixtures.js';

for (const { kind, make } of BUSES) {
  describe(`catalog ingest singleton on the ${kind} bus`, { timeout: 90_000 }, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    test('one leader downloads; a crashed leader is replaced after its lease expires; refresh answered by the leader', async () => {
      const bus: ClusterBus = await make();
      cleanups.push(() => bus.cleanup());
      const db: TestBackend = await openTestPglite();
      cleanups.push(() => db.dispose());
      await migrate(db.db);
      let epochSecond = 0;
      // A new epoch per request, so every download writes (and announces) something.
      const gp = await startGpServer(() => ({ status: 200, body: JSON.stringify([ommRecord(123456, { EPOCH: `2026-05-07T12:00:${String(epochSecond++ % 60).padStart(2, '0')}` })]) }));
      cleanups.push(() => gp.close());
      const cfg = catalogConfig({ 'catalog.url': gp.url, 'catalog.intervalMs': 1000, 'catalog.snapshotFallback': 'false', namespace: bus.names.namespace });
      const leaseMs = 1500;
      const make1 = async (hostId: string) => {
        const transport = await bus.connect();
        const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: hostId, leaseMs, safetyMs: 300, logger: quietLogger(hostId) });
        const ingest = new CatalogIngest({ config: cfg, db: db.db, transport, names: bus.names, leases, logger: quietLogger(hostId), hostId });
        ingest.start();
        cleanups.push(() => ingest.stop());
        return { ingest, leases, hostId };
      };
      const changedIds: number[] = [];
      const obs = await bus.connect();
      obs.subscribe(bus.names.subjects.catalogChanged, (m) => changedIds.push(...CatalogChangedMessage.decode(m.data).ids));

      const a = await make1(`host-a-${randomBytes(3).toString('hex')}`);
      const b = await make1(`host-b-${randomBytes(3).toString('hex')}`);
      let both = 0;
      const watch = setInterval(() => {
        if (a.ingest.isLeader && b.ingest.isLeader) both++;
      }, 20);
      cleanups.push(async () => clearInterval(watch));

      await until('a leader ran two cycles', 15_000, () => a.ingest.stats.cycles + b.ingest.stats.cycles >= 2);
      const [leader, follower] = a.ingest.stats.cycles > 0 ? [a, b] : [b, a];
      assert.equal(follower.ingest.stats.cycles, 0, 'the follower ran no cycle');
      assert.equal(follower.ingest.stats.requests, 0);
      // The leader counts a request when its answer is in; the server when it arrives: wait for them to agree
      // (a request of a third cycle can be in flight now). A follower's request would keep them apart.
      await until('every request came from the leader', 5000, () => gp.requests.length === leader.ingest.stats.requests);
      assert.equal((await leader.leases.inspect(CATALOG_LEASE_KEY))?.holder, leader.hostId);
      await until('catalog.changed heard', 5000, () => changedIds.includes(123456));

      // On-demand refresh: only the leader answers.
      const replies: CatalogRefreshReply[] = [];
      const requestId = `r${randomBytes(4).toString('hex')}`;
      obs.subscribe(bus.names.subjects.catalogRefreshReply(requestId), (m) => replies.push(CatalogRefreshReplyMessage.decode(m.data)));
      await sleep(100);
      obs.publish(bus.names.subjects.catalogRefresh, CatalogRefreshMessage.encode({ v: 1, requestId, at: Date.now() }));
      await until('refresh answered', 10_000, () => replies.length > 0);
      await sleep(300);
      assert.equal(replies.length, 1);
      assert.equal(replies[0]!.hostId, leader.hostId);
      assert.equal(replies[0]!.runs[0]?.group, 'active');

      // Crash the leader: it stops without releasing, so the lease must expire first.
      await leader.ingest.stop({ release: false });
      const held = await leader.leases.inspect(CATALOG_LEASE_KEY);
      assert.equal(held?.holder, leader.hostId, 'a crash leaves the lease in place');
      const cyclesBefore = follower.ingest.stats.cycles;
      await until('the follower took over', 10_000, () => follower.ingest.stats.cycles > cyclesBefore);
      const now = await follower.leases.inspect(CATALOG_LEASE_KEY);
      assert.equal(now?.holder, follower.hostId);
      assert.ok(now!.acquiredAt >= held!.expiresAt, `taken over at ${now!.acquiredAt}, not before the crashed lease expired at ${held!.expiresAt}`);
      assert.equal(both, 0, 'never two leaders at once');
      clearInterval(watch);
    });
  });
}
