/**
 * `npm test`: every *.test.js under dist/test, in two phases, each a
 * `node --test` run (a process per file):
 *
 * 1. files whose tests assert no wall-clock bound and start no node, no
 *    stall and no fault of their own (pure units, storage and STAC
 *    repositories, the transport contract, REST handlers), and the
 *    PostgreSQL outage test, which mostly waits, run three at a time
 *    (OVERLAP): most of their time is process start-up and waiting on a
 *    service, which other files fill (on 2 cores, 2026-12-07, Node 22: the
 *    phase took 249 s two at a time and 180–199 s three at a time, with no
 *    failure in either);
 * 2. the rest one at a time: they start whole nodes, stall event loops,
 *    kill processes and servers, or count what happens within a deadline,
 *    and a second file competing for the two cores would be a fault the
 *    test did not inject.
 *
 * Both phases always run; the exit code is the first failing phase's.
 * `node dist/test/run.js <substring>…` runs only the files whose path
 * contains one of the substrings (same phases).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(fileURLToPath(import.meta.url));

/** Paths relative to dist/test that may run beside another file. */
const OVERLAPPING: readonly RegExp[] = [
  /^unit\//,
  /^contract\//,
  /^security\/(auth|service-auth)\.test\.js$/,
  /^integration\/storage-(open|migrate|partitions|repositories|cache|catalog-search|threads)\.test\.js$/,
  /^integration\/(stac-storage|stac-api|stac-gateway|tile-results-storage|error-classes|cluster-status)\.test\.js$/,
  /^integration\/nats-(kv|provision|reply)\.test\.js$/,
  /^integration\/(imagery-registry|imagery-ingest|imagery-gateway|catalog-ingest|catalog-celestrak|catalog-cli)\.test\.js$/,
  /^integration\/(gateway-rest|gateway-e2e|tile-pipeline|tile-bad-input|ui-routes|catalog-upload)\.test\.js$/,
  // REST handlers on a harness gateway, shedding off where a test's own oracle loads the loop.
  /^integration\/(stac-interop|cors|gateway-passes-states|exports|openapi)\.test\.js$/,
  // The catalog element age through /health and /ingest/status on a bare app over PostgreSQL: no node, no timing.
  /^integration\/catalog-age\.test\.js$/,
  // A minute of waiting for a stopped PostgreSQL; what it counts (tasks done
  // once, dead letters) does not depend on how fast the node runs meanwhile.
  /^chaos\/pg-outage\.test\.js$/,
];

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...find(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const only = process.argv.slice(2);
const files = find(ROOT)
  .map((f) => relative(ROOT, f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const overlapping = files.filter((f) => OVERLAPPING.some((re) => re.test(f)));
const alone = files.filter((f) => !overlapping.includes(f));

/** Files of phase 1 run at once. */
const OVERLAP = 3;

function phase(list: string[], concurrency: number): number {
  if (list.length === 0) return 0;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...list.map((f) => join(ROOT, f))], { stdio: 'inherit' });
  return r.status ?? 1;
}

const first = phase(overlapping, OVERLAP);
const second = phase(alone, 1);
process.exit(first !== 0 ? first : second);
