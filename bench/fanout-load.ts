/**
 * bench:fanout's load process: opens websocket clients on loopback against
 * the gateway, each with one subscribe message, spread over worker threads
 * (one event loop cannot read 10,000 sockets at 1 Hz and still timestamp
 * them on time). For every binary state frame whose tick falls in the
 * measured window it records receive time − tick time (the frame header's
 * f64 at offset 8). Snapshot frames (sent on subscribe) fall before the
 * window. Each worker also reports its event-loop delay: a busy load
 * generator inflates the measured delays, and its p99 says by how much.
 *
 * Forked by bench/fanout.ts; speaks over IPC:
 *   → {type:'start', port, subscribes[], workers}   ← {type:'connected', ok, failed}
 *   → {type:'measure', from, to}                      (tick window, ms)
 *   → {type:'report'}                                 ← {type:'report', …}
 *   → {type:'close'}
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

interface WorkerInput {
  port: number;
  subscribes: unknown[];
}

interface WorkerReport {
  delays: Float64Array;
  frames: number;
  bytes: number;
  closed: number;
  closeCodes: Record<string, number>;
  loopP99Ms: number;
  loopMaxMs: number;
}

const now = (): number => performance.timeOrigin + performance.now();

async function runWorker(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  let from = Infinity;
  let to = -Infinity;
  let delays = new Float64Array(1 << 16);
  let nDelays = 0;
  let frames = 0;
  let bytes = 0;
  let closed = 0;
  const closeCodes: Record<string, number> = {};
  const sockets: WebSocket[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });

  const open = (sub: unknown): Promise<boolean> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${input.port}/ws`, { perMessageDeflate: false });
      sockets.push(ws);
      let done = false;
      const finish = (ok: boolean) => {
        if (!done) {
          done = true;
          resolve(ok);
        }
      };
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          const t = now();
          const tick = data.readDoubleLE(8);
          if (tick >= from && tick <= to) {
            if (nDelays === delays.length) {
              const bigger = new Float64Array(delays.length * 2);
              bigger.set(delays);
              delays = bigger;
            }
            delays[nDelays++] = t - tick;
            frames += 1;
            bytes += data.byteLength;
          }
          return;
        }
        const m = JSON.parse(data.toString('utf8')) as { type: string };
        if (m.type === 'welcome') ws.send(JSON.stringify(sub));
        else if (m.type === 'subscribed') finish(true);
        else if (m.type === 'error') finish(false);
      });
      ws.on('close', (code) => {
        closed += 1;
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        finish(false);
      });
      ws.on('error', () => finish(false));
    });

  // A bounded number of handshakes at a time: the listen backlog is finite.
  let ok = 0;
  let failed = 0;
  let next = 0;
  const lanes = Array.from({ length: 50 }, async () => {
    while (next < input.subscribes.length) {
      const sub = input.subscribes[next++];
      if (await open(sub)) ok += 1;
      else failed += 1;
    }
  });
  await Promise.all(lanes);
  loop.enable();
  port.postMessage({ type: 'connected', ok, failed });
  port.on('message', (m: { type: string; from?: number; to?: number }) => {
    if (m.type === 'measure') {
      from = m.from!;
      to = m.to!;
      loop.reset();
    } else if (m.type === 'report') {
      const r: WorkerReport = { delays: delays.slice(0, nDelays), frames, bytes, closed, closeCodes, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 };
      port.postMessage({ type: 'report', r });
    } else if (m.type === 'close') {
      for (const ws of sockets) ws.terminate();
      setTimeout(() => process.exit(0), 200);
    }
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runMain(): Promise<void> {
  const workers: Worker[] = [];
  process.on('message', async (m: { type: string; port?: number; subscribes?: unknown[]; workers?: number; from?: number; to?: number }) => {
    if (m.type === 'start') {
      const n = Math.max(1, m.workers ?? 2);
      const subs = m.subscribes!;
      const results = await Promise.all(
        Array.from({ length: n }, (_, w) => {
          // Interleaved, so every worker gets a share of the all-object clients.
          const mine = subs.filter((_, i) => i % n === w);
          const worker = new Worker(new URL(import.meta.url), { workerData: { port: m.port!, subscribes: mine } satisfies WorkerInput });
          workers.push(worker);
          return new Promise<{ ok: number; failed: number }>((resolve) => worker.once('message', (x: { ok: number; failed: number }) => resolve(x)));
        }),
      );
      process.send!({ type: 'connected', ok: results.reduce((a, x) => a + x.ok, 0), failed: results.reduce((a, x) => a + x.failed, 0) });
    } else if (m.type === 'measure') {
      for (const w of workers) w.postMessage(m);
    } else if (m.type === 'report') {
      const reports = await Promise.all(
        workers.map(
          (w) =>
            new Promise<WorkerReport>((resolve) => {
              w.once('message', (x: { r: WorkerReport }) => resolve(x.r));
              w.postMessage({ type: 'report' });
            }),
        ),
      );
      const total = reports.reduce((a, r) => a + r.delays.length, 0);
      const all = new Float64Array(total);
      let o = 0;
      for (const r of reports) {
        all.set(r.delays, o);
        o += r.delays.length;
      }
      all.sort();
      const closeCodes: Record<string, number> = {};
      for (const r of reports) for (const [k, v] of Object.entries(r.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
      process.send!({
        type: 'report',
        frames: reports.reduce((a, r) => a + r.frames, 0),
        bytes: reports.reduce((a, r) => a + r.bytes, 0),
        p50: percentile(all, 50),
        p99: percentile(all, 99),
        max: all.length ? all[all.length - 1]! : NaN,
        closed: reports.reduce((a, r) => a + r.closed, 0),
        closeCodes,
        loopP99Ms: Math.max(...reports.map((r) => r.loopP99Ms)),
        loopMaxMs: Math.max(...reports.map((r) => r.loopMaxMs)),
      });
    } else if (m.type === 'close') {
      for (const w of workers) w.postMessage({ type: 'close' });
      setTimeout(() => process.exit(0), 500);
    }
  });
  process.send!({ type: 'ready' });
}

if (isMainThread) await runMain();
else await runWorker(workerData as WorkerInput);
