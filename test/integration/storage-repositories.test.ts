/**
 * Every repository function, run on both backends (PostgreSQL 15 and PGlite):
 * each backend must give the same answers, and replayed writes must be no-ops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as alerts from '../../actors/storage/alerts.js';
import * as catalog from '../../actors/storage/catalog.js';
import * as deadLetters from '../../actors/storage/dead-letters.js';
import * as elementSets from '../../actors/storage/element-sets.js';
import { migrate } from '../../actors/storage/migrate.js';
import * as stac from '../../actors/storage/stac.js';
import * as tasks from '../../actors/storage/tasks.js';
import { StorageArgumentError, StorageError } from '../../actors/storage/errors.js';
import { BACKENDS, type TestBackend } from '../helpers/storage-backends.js';

const TLE1 = '1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9005';
const TLE2 = '2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537';
const tri = (pts: number[][]) => ({ type: 'Polygon', coordinates: [[...pts, pts[0]]] });

/** What each backend answered, in order; compared across backends at the end. */
const transcripts = new Map<string, unknown[]>();

for (const { name, open } of BACKENDS) {
  describe(`storage repositories on ${name}`, () => {
    let b: TestBackend;
    const log: unknown[] = [];
    const note = <T>(v: T): T => {
      log.push(JSON.parse(JSON.stringify(v, (k, x) => (k === 'updatedAt' || k === 'receivedAt' || k === 'recordedAt' || k === 'queuedAt' || k === 'id' && typeof x === 'number' ? '<t>' : x))));
      return v;
    };
    before(async () => {
      b = await open();
      await migrate(b.db);
    });
    after(async () => {
      transcripts.set(name, log);
      await b?.dispose();
    });

    test('catalog: upsert, replay no-op, update, list by group and status, validation', async () => {
      assert.equal(note(await catalog.upsertObject(b.db, { noradId: 25544, name: 'ISS (ZARYA)', intlDesignator: '1998-067A', groups: ['stations', 'visual'] })), true);
      assert.equal(note(await catalog.upsertObject(b.db, { noradId: 25544, name: 'ISS (ZARYA)', intlDesignator: '1998-067A', groups: ['visual', 'stations'] })), false, 'replay is a no-op');
      assert.equal(await catalog.upsertObject(b.db, { noradId: 999_999_999, name: 'NINE DIGITS', groups: ['test'] }), true);
      assert.equal(await catalog.upsertObject(b.db, { noradId: 43013, name: 'NOAA 20', groups: ['weather'] }), true);
      const iss = note(await catalog.getObject(b.db, 25544));
      assert.deepEqual(iss?.groups, ['stations', 'visual']);
      assert.equal(iss?.status, 'active');
      assert.equal((await catalog.getObject(b.db, 999_999_999))?.name, 'NINE DIGITS');
      assert.equal(await catalog.getObject(b.db, 1), null);
      assert.deepEqual(note((await catalog.listObjects(b.db, { group: 'weather' })).map((o) => o.noradId)), [43013]);
      assert.equal(note(await catalog.setObjectStatus(b.db, 43013, 'inactive')), true);
      assert.equal(await catalog.setObjectStatus(b.db, 43013, 'inactive'), false, 'same status twice changes nothing');
      assert.deepEqual((await catalog.listObjects(b.db, { status: 'inactive' })).map((o) => o.noradId), [43013]);
      assert.deepEqual(note((await catalog.listObjects(b.db)).map((o) => o.noradId)), [25544, 43013, 999_999_999]);
      assert.equal(await catalog.upsertObject(b.db, { noradId: 25544, name: 'ISS', groups: ['stations'] }), true, 'a real change is written');
      assert.equal((await catalog.getObject(b.db, 25544))?.name, 'ISS');
      await assert.rejects(catalog.upsertObject(b.db, { noradId: 1_000_000_000, name: 'x' }), StorageArgumentError);
      await assert.rejects(catalog.upsertObject(b.db, { noradId: 0, name: 'x' }), StorageArgumentError);
    });

    test('element sets: unique per object and epoch, latest, history, unknown object gets a catalog row', async () => {
      const omm = { OBJECT_NAME: 'ISS', NORAD_CAT_ID: 25544, EPOCH: '2024-01-01T12:00:00.000', MEAN_MOTION: 15.72125391 };
      const e1 = { noradId: 25544, epoch: new Date('2024-01-01T12:00:00Z'), source: 'celestrak:gp:stations', format: 'omm' as const, omm };
      assert.equal(note(await elementSets.insertElementSet(b.db, e1)), true);
      assert.equal(note(await elementSets.insertElementSet(b.db, e1)), false, 'replay is a no-op');
      assert.equal(await elementSets.insertElementSet(b.db, { ...e1, source: 'other-source' }), false, 'same object and epoch from elsewhere is still one row');
      const e2 = { noradId: 25544, epoch: new Date('2024-01-02T00:00:00Z'), source: 'spacetrack', format: 'tle' as const, tleLine1: TLE1, tleLine2: TLE2 };
      assert.equal(await elementSets.insertElementSet(b.db, e2), true);
      const latest = note(await elementSets.latestElementSet(b.db, 25544));
      assert.equal(latest?.format, 'tle');
      assert.equal(latest?.tleLine1, TLE1);
      assert.equal(latest?.epoch.toISOString(), '2024-01-02T00:00:00.000Z');
      const hist = await elementSets.elementSetHistory(b.db, 25544, new Date('2024-01-01T00:00:00Z'), new Date('2024-02-01T00:00:00Z'));
      assert.deepEqual(hist.map((h) => h.source), ['celestrak:gp:stations', 'spacetrack']);
      assert.deepEqual(hist[0]?.omm, omm);
      // An object not in the catalog yet: a minimal row is created from OBJECT_NAME.
      assert.equal(await elementSets.insertElementSet(b.db, { noradId: 123456789, epoch: new Date('2024-03-01T00:00:00Z'), source: 's', format: 'omm', omm: { OBJECT_NAME: 'NEW SAT' } }), true);
      assert.equal((await catalog.getObject(b.db, 123456789))?.name, 'NEW SAT');
      const many = note(await elementSets.latestElementSets(b.db, [25544, 123456789, 5]));
      assert.deepEqual(many.map((m) => [m.noradId, m.epoch.toISOString()]), [[25544, '2024-01-02T00:00:00.000Z'], [123456789, '2024-03-01T00:00:00.000Z']]);
      await assert.rejects(elementSets.insertElementSet(b.db, { ...e2, tleLine1: 'short' }), StorageArgumentError);
    });

    test('STAC: collections and items, replay no-op, bbox, intersects, datetime and id filters', async () => {
      const coll = { id: 'goes-18-ctp', type: 'Collection', stac_version: '1.0.0', description: 'cloud top pressure', license: 'CC0-1.0' };
      assert.equal(note(await stac.upsertCollection(b.db, coll)), true);
      assert.equal(note(await stac.upsertCollection(b.db, { ...coll })), false, 'replay is a no-op');
      assert.equal(await stac.upsertCollection(b.db, { id: 'other' }), true);
      assert.deepEqual(await stac.getCollection(b.db, 'goes-18-ctp'), coll);
      assert.deepEqual(note((await stac.listCollections(b.db)).map((c) => c.id)), ['goes-18-ctp', 'other']);

      const item = (id: string, geometry: unknown, props: Record<string, unknown>, collection = 'goes-18-ctp') => ({ type: 'Feature', stac_version: '1.0.0', id, collection, geometry, properties: props, assets: {}, links: [] });
      const a = item('tri-a', tri([[0, 0], [10, 0], [0, 10]]), { datetime: '2026-01-01T00:00:00Z' });
      assert.equal(note(await stac.upsertItem(b.db, a)), true);
      assert.equal(note(await stac.upsertItem(b.db, structuredClone(a))), false, 'replay is a no-op');
      assert.equal(await stac.upsertItem(b.db, item('pt', { type: 'Point', coordinates: [2, 2] }, { datetime: '2026-01-02T00:00:00Z' })), true);
      assert.equal(await stac.upsertItem(b.db, item('span', { type: 'MultiPolygon', coordinates: [[[[100, 40], [110, 40], [110, 50], [100, 50], [100, 40]]], [[[-120, -10], [-110, -10], [-110, 0], [-120, -10]]]] }, { datetime: null, start_datetime: '2026-02-01T00:00:00Z', end_datetime: '2026-02-28T00:00:00Z' })), true);
      assert.equal(await stac.upsertItem(b.db, item('nogeo', null, { datetime: '2025-06-01T00:00:00Z' }, 'other')), true);
      assert.deepEqual(await stac.getItem(b.db, 'goes-18-ctp', 'tri-a'), a);
      assert.equal(await stac.getItem(b.db, 'goes-18-ctp', 'missing'), null);

      const ids = async (s: stac.ItemSearch) => note((await stac.searchItems(b.db, s)).map((d) => d.id));
      assert.deepEqual(await ids({}), ['span', 'pt', 'tri-a', 'nogeo'], 'newest first');
      assert.deepEqual(await ids({ collections: ['other'] }), ['nogeo']);
      assert.deepEqual(await ids({ ids: ['pt', 'tri-a'] }), ['pt', 'tri-a']);
      assert.deepEqual(await ids({ bbox: [8, 8, 9, 9] }), [], 'inside the triangle bbox but off the triangle: geometry decides');
      assert.deepEqual(await ids({ bbox: [4, 4, 6, 6] }), ['tri-a']);
      assert.deepEqual(await ids({ bbox: [1, 1, 2.5, 2.5] }), ['pt', 'tri-a']);
      assert.deepEqual(await ids({ bbox: [105, -10, -118, 45] }), ['span'], 'a bbox across the antimeridian is split in two');
      assert.deepEqual(await ids({ intersects: tri([[8, 8], [9, 8], [9, 9]]) }), [], 'inside the bbox but outside the triangle: exact test drops it');
      assert.deepEqual(await ids({ intersects: tri([[1, 1], [3, 1], [1, 3]]) }), ['pt', 'tri-a']);
      assert.deepEqual(await ids({ intersects: { type: 'Point', coordinates: [-115, -5] } }), ['span'], 'second part of a MultiPolygon');
      assert.deepEqual(await ids({ bbox: [170, -10, -170, 10] }), [], 'antimeridian bbox widens but finds nothing here');
      assert.deepEqual(await ids({ datetime: { from: new Date('2026-02-10T00:00:00Z') } }), ['span'], 'interval overlaps an item range');
      assert.deepEqual(await ids({ datetime: { from: new Date('2026-01-01T12:00:00Z'), to: new Date('2026-01-02T00:00:00Z') } }), ['pt']);
      assert.deepEqual(await ids({ limit: 2, offset: 1 }), ['pt', 'tri-a']);
      assert.equal(await stac.deleteItem(b.db, 'other', 'nogeo'), true);
      assert.equal(await stac.deleteItem(b.db, 'other', 'nogeo'), false);
      await assert.rejects(stac.upsertItem(b.db, item('bad', { type: 'Point', coordinates: [200, 0] }, { datetime: '2026-01-01T00:00:00Z' })), StorageArgumentError);
      await assert.rejects(stac.upsertItem(b.db, item('bad', null, {})), StorageArgumentError);
      await assert.rejects(stac.upsertItem(b.db, item('orphan', null, { datetime: '2026-01-01T00:00:00Z' }, 'no-such-collection')), StorageError, 'foreign key holds');
      await assert.rejects(stac.searchItems(b.db, { bbox: [1, 2, 3] }), StorageArgumentError);
    });

    test('the bbox GiST index serves && searches', async () => {
      const plan = await b.db.transaction(async (tx) => {
        // Tiny tables favour a seq scan; forbid it to see that the index can answer.
        await tx.query('SET LOCAL enable_seqscan = off');
        const r = await tx.query<Record<string, string>>(`EXPLAIN SELECT id FROM stac_items WHERE bbox && '(9,9),(8,8)'::box`);
        return r.rows.map((row) => Object.values(row)[0]).join('\n');
      });
      assert.match(plan, /stac_items_bbox_gist/);
    });

    test('tasks: stages move forward once, replays are no-ops, attempts never go down', async () => {
      assert.equal(note(await tasks.createTask(b.db, { id: 'task-1', kind: 'render.tile', item: 'goes-18-ctp/tri-a', priority: 5 })), true);
      assert.equal(note(await tasks.createTask(b.db, { id: 'task-1', kind: 'render.tile' })), false, 'replay is a no-op');
      assert.equal(await tasks.createTask(b.db, { id: 'task-2', kind: 'ingest.omm' }), true);
      const t1 = new Date('2026-01-01T00:00:01Z');
      assert.equal(note(await tasks.advanceTask(b.db, 'task-1', 'l1', t1)), true);
      assert.equal(note(await tasks.advanceTask(b.db, 'task-1', 'l1', new Date('2026-01-01T00:00:09Z'))), false, 'replay is a no-op');
      assert.equal(await tasks.advanceTask(b.db, 'task-1', 'l3', new Date('2026-01-01T00:00:03Z')), true, 'skipping a stage is allowed');
      assert.equal(await tasks.advanceTask(b.db, 'task-1', 'l2', new Date('2026-01-01T00:00:04Z')), false, 'never backwards');
      assert.equal(await tasks.recordAttempt(b.db, 'task-1', 2, 'timeout'), true);
      assert.equal(await tasks.recordAttempt(b.db, 'task-1', 2, 'timeout'), false, 'replay is a no-op');
      assert.equal(await tasks.recordAttempt(b.db, 'task-1', 1), false, 'attempts never go down');
      assert.equal(await tasks.advanceTask(b.db, 'task-1', 'done', new Date('2026-01-01T00:00:05Z')), true);
      assert.equal(await tasks.failTask(b.db, 'task-1', 'late failure'), false, 'a done task stays done');
      const r = note(await tasks.getTask(b.db, 'task-1'));
      assert.equal(r?.state, 'done');
      assert.equal(r?.attempts, 2);
      assert.equal(r?.error, 'timeout');
      assert.equal(r?.priority, 5);
      assert.equal(r?.l1At?.toISOString(), t1.toISOString());
      assert.equal(r?.l2At, null);
      assert.equal(r?.doneAt?.toISOString(), '2026-01-01T00:00:05.000Z');
      assert.equal(await tasks.failTask(b.db, 'task-2', 'bad input'), true);
      assert.equal(await tasks.failTask(b.db, 'task-2', 'bad input'), false);
      assert.equal(await tasks.createTask(b.db, { id: 'task-3', kind: 'k' }), true);
      assert.deepEqual(note((await tasks.listOpenTasks(b.db)).map((t) => t.id)), ['task-3']);
      assert.deepEqual(note(await tasks.countTasksByState(b.db)), { queued: 1, l1: 0, l2: 0, l3: 0, done: 1, failed: 1 });
      assert.equal(await tasks.getTask(b.db, 'nope'), null);
      await assert.rejects(tasks.createTask(b.db, { id: '../x', kind: 'k' }), StorageArgumentError);
    });

    test('alerts: raise once, acknowledge once, list', async () => {
      const a = { id: 'conjunction:25544:43013:2026-01-01T00:00:00Z', kind: 'conjunction', severity: 'warning' as const, noradId: 25544, message: 'close approach', payload: { missKm: 1.2 }, raisedAt: new Date('2026-01-01T00:00:00Z') };
      assert.equal(note(await alerts.raiseAlert(b.db, a)), true);
      assert.equal(note(await alerts.raiseAlert(b.db, a)), false, 'replay is a no-op');
      assert.equal(await alerts.raiseAlert(b.db, { ...a, id: 'decay:43013', kind: 'decay', severity: 'info', raisedAt: new Date('2026-01-02T00:00:00Z') }), true);
      assert.deepEqual(note((await alerts.listAlerts(b.db)).map((x) => x.id)), ['decay:43013', a.id]);
      const ack = new Date('2026-01-03T00:00:00Z');
      assert.equal(await alerts.acknowledgeAlert(b.db, a.id, ack), true);
      assert.equal(await alerts.acknowledgeAlert(b.db, a.id, new Date()), false, 'first acknowledgement is kept');
      assert.deepEqual((await alerts.listAlerts(b.db, { unacknowledgedOnly: true })).map((x) => x.id), ['decay:43013']);
      const listed = note(await alerts.listAlerts(b.db, { since: new Date('2025-12-31T00:00:00Z') }));
      assert.equal(listed.find((x) => x.id === a.id)?.acknowledgedAt?.toISOString(), ack.toISOString());
      assert.deepEqual(listed.find((x) => x.id === a.id)?.payload, { missKm: 1.2 });
    });

    test('dead letters: one row per task, undecodable bytes keyed by hash, bytes round-trip', async () => {
      const original = Buffer.from([0, 1, 2, 250, 255, 10]).toString('base64');
      const d = { v: 1 as const, queue: 'weather' as const, taskId: 'task-9', kind: 'render.tile', code: 'SW_ERR_HANDLER', reason: 'kernel failed', deliveries: 5, failedAt: '2026-01-01T00:00:00.000Z', original };
      assert.equal(note(await deadLetters.recordDeadLetter(b.db, d)), true);
      assert.equal(note(await deadLetters.recordDeadLetter(b.db, d)), false, 'replay is a no-op');
      const raw = { ...d, taskId: null, kind: null, code: 'SW_ERR_DECODE', reason: 'not JSON', deliveries: 1, failedAt: '2026-01-02T00:00:00.000Z', original: Buffer.from('garbage').toString('base64') };
      assert.equal(await deadLetters.recordDeadLetter(b.db, raw), true);
      assert.equal(await deadLetters.recordDeadLetter(b.db, raw), false, 'same undecodable bytes once');
      assert.equal(note(await deadLetters.countDeadLetters(b.db)), 2);
      const list = note(await deadLetters.listDeadLetters(b.db, { queue: 'weather' }));
      assert.equal(list.length, 2);
      const got = list.find((x) => x.taskId === 'task-9');
      assert.equal(got?.original, original, 'bytes round-trip exactly');
      assert.equal(got?.dedupeKey, 'weather:task-9');
      assert.match(list.find((x) => x.taskId === null)!.dedupeKey, /^weather:sha256:[0-9a-f]{64}$/);
      assert.deepEqual(await deadLetters.listDeadLetters(b.db, { queue: 'high' }), []);
    });

    test('a failed transaction leaves nothing behind', async () => {
      await assert.rejects(
        b.db.transaction(async (tx) => {
          await tasks.createTask(tx, { id: 'tx-task', kind: 'k' });
          await tx.query('SELECT 1/0');
        }),
        StorageError,
      );
      assert.equal(await tasks.getTask(b.db, 'tx-task'), null);
    });
  });
}

test('both backends answered every repository call the same', () => {
  const pg = transcripts.get('pg');
  const lite = transcripts.get('pglite');
  assert.ok(pg && lite && pg.length > 20, 'both transcripts recorded');
  assert.deepEqual(lite, pg);
});
