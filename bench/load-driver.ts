/**
 * bench:load's HTTP load process: STAC item POSTs at a fixed rate and
 * large-item searches in a loop, against one gateway. A separate process, so
 * the orchestrator's probes (/health poller, frame-gap client) do not share
 * an event loop with the load they measure.
 *
 * POSTs are open loop: every 20 ms the driver sends as many as the rate says
 * should have gone out by now, whatever the answers. `newPerSecond` of them
 * are new items (deterministic ids, so a task id `stac:<collection>:<item>`
 * is known even when the answer never comes); the rest are identical
 * re-POSTs of items already accepted, which must find the same task and
 * create none (counted when one does). At most `maxInFlight` are
 * outstanding; beyond that a slot is skipped and counted (the client, not
 * the server, was the limit).
 *
 * Searches: `searchLanes` lanes, each POSTing /search for the large items
 * back to back (unauthenticated, as a dashboard would).
 *
 * Forked by bench/load.ts; speaks over IPC:
 *   → {type:'start', …StartMessage}      ← {type:'started'}
 *   → {type:'stop'}                       ← {type:'stats', …DriverStats}
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { benchItem } from './load-items.js';

export interface StartMessage {
  baseUrl: string;
  apiKey: string;
  collection: string;
  /** POSTs per second (0: none). */
  rate: number;
  /** Of those, new items per second (the rest re-POST accepted ones). */
  newPerSecond: number;
  runId: string;
  /** file:// href of the (tiny) scene every POSTed item names as its data asset. */
  assetHref: string;
  maxInFlight: number;
  postTimeoutMs: number;
  /** Item ids to search for (the large items), and how many lanes search at once. */
  searchIds: string[];
  searchLanes: number;
  searchTimeoutMs: number;
}

export interface DriverStats {
  posts: {
    sent: number;
    newSent: number;
    /** Re-POSTs answered 202 with created: true (a second task for one item: must be 0). */
    repostsCreated: number;
    /** Item ids answered 202, and those whose POST got no answer (timeout, reset): their task may exist. */
    acceptedIds: string[];
    unknownIds: string[];
    /** Answers to new-item POSTs, and to re-POSTs (a 409 there means the item was processed meanwhile: its stored copy gained product assets). */
    byStatus: Record<string, number>;
    repostByStatus: Record<string, number>;
    skippedInFlightCap: number;
    /** Re-POST slots before any item was accepted. */
    skippedNothingToRepost: number;
    latencyMs: { p50: number; p99: number; max: number };
    retryAfter: number;
  };
  searches: {
    done: number;
    byStatus: Record<string, number>;
    bytes: number;
    latencyMs: { p50: number; p99: number; max: number };
  };
  loopP99Ms: number;
}

function quantiles(values: number[]): { p50: number; p99: number; max: number } {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(values).sort();
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);

function statusKey(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  return e?.cause?.code ?? 'error';
}

async function run(o: StartMessage, stopped: () => boolean, stats: DriverStats, postLatencies: number[], searchLatencies: number[]): Promise<void> {
  let inFlight = 0;
  let n = 0;
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();

  const accepted: number[] = [];
  let nextNew = 0;
  const post = async (i: number, isNew: boolean): Promise<void> => {
    const id = `load-${o.runId}-${i}`;
    const body = JSON.stringify(benchItem(id, i, o.collection, o.assetHref));
    const t = performance.now();
    inFlight++;
    stats.posts.sent++;
    if (isNew) stats.posts.newSent++;
    try {
      const res = await fetch(`${o.baseUrl}/collections/${o.collection}/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${o.apiKey}` },
        body,
        signal: AbortSignal.timeout(o.postTimeoutMs),
      });
      const text = await res.text();
      postLatencies.push(performance.now() - t);
      bump(isNew ? stats.posts.byStatus : stats.posts.repostByStatus, String(res.status));
      if (res.headers.get('retry-after') !== null) stats.posts.retryAfter++;
      if (res.status === 202) {
        if (isNew) {
          stats.posts.acceptedIds.push(id);
          accepted.push(i);
        } else if ((JSON.parse(text) as { created?: boolean }).created === true) stats.posts.repostsCreated++;
      }
    } catch (err) {
      bump(isNew ? stats.posts.byStatus : stats.posts.repostByStatus, statusKey(err));
      if (isNew) stats.posts.unknownIds.push(id);
    } finally {
      inFlight--;
    }
  };

  const postLoop = async (): Promise<void> => {
    if (o.rate <= 0) return;
    while (!stopped()) {
      const due = Math.floor(((performance.now() - t0) / 1000) * o.rate);
      while (n < due && !stopped()) {
        if (inFlight >= o.maxInFlight) {
          stats.posts.skippedInFlightCap++;
          n++;
          continue;
        }
        // Slot n is a new item when the new-item rate's count steps up at it (or nothing is accepted yet to re-POST).
        const isNew = Math.floor(((n + 1) * o.newPerSecond) / o.rate) > Math.floor((n * o.newPerSecond) / o.rate);
        n++;
        if (!isNew && accepted.length === 0) {
          stats.posts.skippedNothingToRepost++;
          continue;
        }
        const p = isNew ? post(nextNew++, true) : post(accepted[Math.floor(Math.random() * accepted.length)]!, false);
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const searchBody = JSON.stringify({ ids: o.searchIds, limit: Math.max(1, o.searchIds.length) });
  const searchLane = async (): Promise<void> => {
    while (!stopped()) {
      const t = performance.now();
      try {
        const res = await fetch(`${o.baseUrl}/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: searchBody, signal: AbortSignal.timeout(o.searchTimeoutMs) });
        const buf = await res.arrayBuffer();
        searchLatencies.push(performance.now() - t);
        stats.searches.bytes += buf.byteLength;
        bump(stats.searches.byStatus, String(res.status));
        // A refusal with Retry-After is honoured (capped), as a well-behaved client would.
        const ra = Number(res.headers.get('retry-after'));
        if (res.status >= 500 && Number.isFinite(ra) && ra > 0) await new Promise((r) => setTimeout(r, Math.min(ra, 5) * 1000));
      } catch (err) {
        bump(stats.searches.byStatus, statusKey(err));
        await new Promise((r) => setTimeout(r, 250));
      }
      stats.searches.done++;
    }
  };

  const lanes = o.searchIds.length > 0 ? Array.from({ length: o.searchLanes }, () => searchLane()) : [];
  await Promise.all([postLoop(), ...lanes]);
  // POSTs still out get their answer (or their timeout), so every sent id ends up accepted, refused or unknown.
  await Promise.all([...pending]);
}

if (process.send) {
  let stop = false;
  let running: Promise<void> | null = null;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const stats: DriverStats = {
    posts: { sent: 0, newSent: 0, repostsCreated: 0, acceptedIds: [], unknownIds: [], byStatus: {}, repostByStatus: {}, skippedInFlightCap: 0, skippedNothingToRepost: 0, latencyMs: { p50: NaN, p99: NaN, max: NaN }, retryAfter: 0 },
    searches: { done: 0, byStatus: {}, bytes: 0, latencyMs: { p50: NaN, p99: NaN, max: NaN } },
    loopP99Ms: NaN,
  };
  const postLatencies: number[] = [];
  const searchLatencies: number[] = [];
  process.on('message', (m: { type: string } & Partial<StartMessage>) => {
    if (m.type === 'start') {
      running = run(m as StartMessage, () => stop, stats, postLatencies, searchLatencies);
      process.send!({ type: 'started' });
    } else if (m.type === 'stop') {
      stop = true;
      void (running ?? Promise.resolve()).then(() => {
        stats.posts.latencyMs = quantiles(postLatencies);
        stats.searches.latencyMs = quantiles(searchLatencies);
        stats.loopP99Ms = loop.percentile(99) / 1e6;
        process.send!({ type: 'stats', stats }, () => process.exit(0));
      });
    }
  });
  process.send({ type: 'ready' });
}
