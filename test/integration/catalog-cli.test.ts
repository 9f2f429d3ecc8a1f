/**
 * `starweather catalog load` and `starweather catalog refresh` as real
 * processes: a load writes through the ingest path without a running node
 * and tells the trackers over NATS (fresh namespace); a refresh is answered
 * by the ingest leader, and fails clearly when no leader answers.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, type Spawned } from '../helpers/processes.js';
import { natsBus, quietLogger, until, type ClusterBus } from '../helpers/cluster-fixtures.js';
import { openPglite } from '../../actors/storage/pglite.js';
import { openTestPglite, type TestBackend } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { getObject } from '../../actors/storage/catalog.js';
import { listIngestRuns } from '../../actors/storage/ingest-runs.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { CatalogIngest } from '../../actors/ingest/catalog-actor.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import { NATS_URL } from './nats-fixtures.js';
import { catalogConfig, ommRecord, startGpServer, tempDir } from './catalog-fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');

describe('starweather catalog', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const procs: Spawned[] = [];
  after(async () => {
    for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  function cli(args: string[], env: Record<string, string | undefined>): Spawned {
    const s = spawnNode([CLI, 'catalog', ...args], { NATS_URL: undefined, DATABASE_URL: undefined, REDIS_URL: undefined, STARWEATHER_CONFIG: undefined, STARWEATHER_LOG_LEVEL: 'warn', ...env });
    procs.push(s);
    return s;
  }

  test('load: a file with good and bad OMM records, without a running node; the trackers hear the changed ids over NATS', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.dispose());
    const bus: ClusterBus = await natsBus();
    cleanups.push(() => bus.cleanup());
    const heard: number[] = [];
    const t = await bus.connect();
    t.subscribe(bus.names.subjects.catalogChanged, (m) => heard.push(...CatalogChangedMessage.decode(m.data).ids));
    await t.flush();
    const file = join(tmp.dir, 'omm.json');
    writeFileSync(file, JSON.stringify([ommRecord(100001), ommRecord(123456789), ommRecord(5, { ECCENTRICITY: 1.5 })]));
    const env = { STARWEATHER_DATA_DIR: join(tmp.dir, 'data'), NATS_URL, STARWEATHER_NAMESPACE: bus.names.namespace };
    const run = cli(['load', file, '--group', 'manual'], env);
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
    assert.match(run.stdout(), /manual: ok: 3 records, 2 accepted, 1 rejected \(OMM_RANGE=1\)/);
    assert.match(run.stdout(), /OMM_RANGE line 3 #5: ECCENTRICITY/);
    await until('catalog.changed heard', 5000, () => heard.length >= 2);
    assert.deepEqual(heard.sort((a, b) => a - b), [100001, 123456789]);

    const db = await openPglite({ dataDir: join(tmp.dir, 'data', 'pglite') });
    try {
      assert.deepEqual((await getObject(db, 123456789))?.groups, ['manual']);
      assert.equal(await getObject(db, 5), null);
      const [runRow] = await listIngestRuns(db, { kind: 'catalog' });
      assert.equal(runRow?.source, file);
      assert.deepEqual(runRow?.rejectedByCode, { OMM_RANGE: 1 });
    } finally {
      await db.close();
    }

    const bad = cli(['load', file, '--format', 'xml'], env);
    assert.equal((await bad.exited).code, 2);
    const missing = cli(['load', join(tmp.dir, 'nope.tle')], env);
    assert.equal((await missing.exited).code, 1);
    assert.match(missing.stderr(), /cannot read/);
  });

  test('refresh over NATS: the ingest leader runs a cycle and answers; with no leader the command fails', async () => {
    const bus: ClusterBus = await natsBus();
    cleanups.push(() => bus.cleanup());
    const db: TestBackend = await openTestPglite();
    cleanups.push(() => db.dispose());
    await migrate(db.db);
    const gp = await startGpServer(() => ({ status: 200, body: JSON.stringify([ommRecord(25544)]) }));
    cleanups.push(() => gp.close());
    const env = { NATS_URL, STARWEATHER_NAMESPACE: bus.names.namespace };

    const none = cli(['refresh', '--wait', '1500'], env);
    assert.equal((await none.exited).code, 1);
    assert.match(none.stderr(), /no catalog ingest leader answered/);

    // A long interval: the only cycle after the first is the requested one.
    const cfg = catalogConfig({ 'catalog.url': gp.url, 'catalog.intervalMs': 3_600_000, 'catalog.snapshotFallback': 'false', namespace: bus.names.namespace });
    const transport = await bus.connect();
    const leases = new LeaseManager({ bucket: await transport.kv('leases'), holder: 'ingest-leader', leaseMs: 2000, logger: quietLogger() });
    const ingest = new CatalogIngest({ config: cfg, db: db.db, transport, names: bus.names, leases, logger: quietLogger(), hostId: 'ingest-leader' });
    ingest.start();
    cleanups.push(() => ingest.stop());
    await until('first cycle done', 10_000, () => gp.requests.length === 1 && ingest.health().cycleRunning === false);
    const run = cli(['refresh', '--wait', '20000'], env);
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr());
    assert.match(run.stdout(), /refreshed by ingest-leader/);
    assert.match(run.stdout(), /active: ok/);
    assert.equal(gp.requests.length, 2);
  });
});
