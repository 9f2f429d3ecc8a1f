/** Websocket subscription normalisation and filtering (actors/gateway/subscription.ts) and the ws protocol messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inBbox, matches, normalizeSubscription } from '../../actors/gateway/subscription.js';
import { WsClientMessage, WsServerMessage, WS_MAX_IDS } from '../../protocol/messages/ws.js';

const groupsOf = (id: number): readonly string[] | undefined => ({ 1: ['stations'], 2: ['gps', 'active'] })[id as 1 | 2];

test('equal subscriptions get equal keys whatever the order or duplicates', () => {
  const a = normalizeSubscription({ ids: [3, 1, 2, 2], groups: ['b', 'a'] });
  const b = normalizeSubscription({ groups: ['a', 'b', 'a'], ids: [2, 3, 1] });
  assert.equal(a.key, b.key);
  assert.notEqual(a.key, normalizeSubscription({ ids: [1, 2] }).key);
  assert.notEqual(normalizeSubscription({ bbox: [0, 0, 10, 10] }).key, normalizeSubscription({ bbox: [0, 0, 10, 11] }).key);
  // `all` subsumes the rest.
  assert.equal(normalizeSubscription({ all: true, ids: [1] }).key, normalizeSubscription({ all: true }).key);
});

test('inBbox, including a box across the antimeridian', () => {
  const table: Array<[[number, number, number, number], number, number, boolean]> = [
    [[-10, -10, 10, 10], 0, 0, true],
    [[-10, -10, 10, 10], 10, 10, true],
    [[-10, -10, 10, 10], 10.01, 0, false],
    [[-10, -10, 10, 10], 0, -10.01, false],
    [[170, -5, -170, 5], 0, 175, true],
    [[170, -5, -170, 5], 0, -175, true],
    [[170, -5, -170, 5], 0, 0, false],
    [[170, -5, -170, 5], 6, 180, false],
    [[-180, -90, 180, 90], Number.NaN, 0, false],
  ];
  for (const [box, lat, lon, want] of table) assert.equal(inBbox(box, lat, lon), want, `${box} ${lat},${lon}`);
});

test('a state matches when any criterion matches', () => {
  const s = normalizeSubscription({ ids: [5], groups: ['gps'], bbox: [0, 0, 10, 10] });
  assert.equal(matches(s, 5, 50, 50, groupsOf), true, 'by id');
  assert.equal(matches(s, 2, 50, 50, groupsOf), true, 'by group');
  assert.equal(matches(s, 7, 5, 5, groupsOf), true, 'by bbox');
  assert.equal(matches(s, 1, 50, 50, groupsOf), false);
  assert.equal(matches(normalizeSubscription({ all: true }), 123_456_789, Number.NaN, Number.NaN, groupsOf), true);
});

test('client messages are validated by schema: ids up to 9 digits, bbox ranges, no extra fields', () => {
  assert.ok(WsClientMessage.check({ type: 'subscribe', ids: [1, 999_999_999] }));
  assert.ok(WsClientMessage.check({ type: 'subscribe', bbox: [170, -10, -170, 10], id: 'r1' }));
  assert.ok(WsClientMessage.check({ type: 'unsubscribe' }));
  for (const bad of [
    { type: 'subscribe', ids: [0] },
    { type: 'subscribe', ids: [1_000_000_000] },
    { type: 'subscribe', ids: [1.5] },
    { type: 'subscribe', bbox: [0, 0, 10] },
    { type: 'subscribe', bbox: [-181, 0, 10, 10] },
    { type: 'subscribe', bbox: [0, -91, 10, 10] },
    { type: 'subscribe', groups: [''] },
    { type: 'subscribe', ids: new Array(WS_MAX_IDS + 1).fill(1) },
    { type: 'subscribe', foo: 1 },
    { type: 'other' },
  ]) {
    assert.equal(WsClientMessage.check(bad), false, JSON.stringify(bad).slice(0, 80));
  }
  assert.throws(() => WsClientMessage.decode(new TextEncoder().encode('{')), /not valid json/);
  assert.ok(WsServerMessage.check({ type: 'heartbeat', serverTime: 1, lastTickMs: null }));
  assert.ok(WsServerMessage.check({ type: 'error', code: 'SW_ERR_SCHEMA', message: 'x' }));
});
