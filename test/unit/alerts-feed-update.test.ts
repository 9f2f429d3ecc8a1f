/**
 * The gateway's alert feed passes on a grouped alert each time it grows (the
 * decays of a stale catalog load are one alert, republished with a new
 * count as hosts add objects), and still drops a plain repeat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertRaisedMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import { AlertsFeed } from '../../actors/gateway/alerts-feed.js';

const base: AlertRaised = { v: 1, id: 'stale-decays:run-7', kind: 'decay-stale-elements', severity: 'warning', noradId: null, message: '12 objects predicted decayed', raisedAt: '2026-12-07T12:00:00.000Z', payload: { objects: 12 } };

test('a repeat is dropped, an update of the same alert replaces it and is passed on', async () => {
  const feed = new AlertsFeed({ storage: async () => { throw new Error('no storage in this test'); }, refreshMs: 3_600_000 });
  const heard: AlertRaised[] = [];
  feed.onAlert((a) => heard.push(a));
  feed.ingest(AlertRaisedMessage.encode(base));
  feed.ingest(AlertRaisedMessage.encode(base));
  assert.equal(heard.length, 1, 'the repeat is not passed on');
  const grown = { ...base, message: '30 objects predicted decayed', payload: { objects: 30 } };
  feed.ingest(AlertRaisedMessage.encode(grown));
  assert.equal(heard.length, 2, 'the update is');
  assert.equal(heard[1]!.message, grown.message);
  const recent = await feed.recent();
  assert.equal(recent.filter((a) => a.id === base.id).length, 1, 'one entry per alert id');
  assert.equal(recent.find((a) => a.id === base.id)!.message, grown.message);
});
