/**
 * The ingest role's service in a real actor host on the embedded bus, as
 * `npm start` runs it offline: CelesTrak unreachable (a local gp.php
 * answering 500), an empty embedded database, so the host becomes the
 * catalog leader, falls back to the shipped snapshot and announces all
 * 15,347 objects on catalog.changed; /health shows the run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHost } from '../../actors/host/host.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { names } from '../../protocol/names.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import { SNAPSHOT_OBJECT_COUNT } from '../../actors/tracker/snapshot.js';
import { until } from '../helpers/cluster-fixtures.js';
import { catalogConfig, silentLogger, startGpServer, tempDir } from './catalog-fixtures.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

test('ingest host, offline embedded start: leader, snapshot fallback, catalog.changed for every object', { timeout: 120_000 }, async () => {
  const tmp = tempDir();
  cleanups.push(() => tmp.dispose());
  const gp = await startGpServer(() => ({ status: 500, body: 'down' }));
  cleanups.push(() => gp.close());
  const ns = `t${Math.random().toString(36).slice(2, 10)}`;
  const cfg = catalogConfig({ 'catalog.url': gp.url, dataDir: join(tmp.dir, 'data'), namespace: ns, roles: 'ingest', 'cluster.leaseMs': 3000 });
  const bus = new EmbeddedTransport({ names: names(ns) });
  await bus.provision();
  cleanups.push(() => bus.close());
  const ids = new Set<number>();
  bus.subscribe(names(ns).subjects.catalogChanged, (m) => {
    for (const id of CatalogChangedMessage.decode(m.data).ids) ids.add(id);
  });
  const host = await startHost({ config: cfg, role: 'ingest', hostId: 'ingest-1', logger: silentLogger(), send: () => undefined, transport: bus });
  cleanups.push(() => host.drain());
  await until('snapshot announced', 60_000, () => ids.size === SNAPSHOT_OBJECT_COUNT, 100);
  const svc = (host.info().services as Record<string, { catalog?: { leader: boolean; lastRuns: Array<{ group: string; outcome: string; accepted: number; rejected: number }> } }>)['ingest'];
  assert.equal(svc?.catalog?.leader, true);
  assert.deepEqual(
    svc?.catalog?.lastRuns.map((r) => [r.outcome, r.accepted, r.rejected]),
    [['http_error', 0, 0], ['ok', SNAPSHOT_OBJECT_COUNT, 0]],
  );
  assert.equal(gp.requests.length, 1, 'one request, no retry');
  await host.drain();
});
