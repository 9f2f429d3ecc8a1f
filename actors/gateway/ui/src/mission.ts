/**
 * Mission control: the cluster as the gateway sees it (GET /cluster and the
 * websocket `cluster` channel: every node with its roles, hosts and actors
 * per host, queue depths per priority, restarts, dead letters, task
 * throughput) and ingest status (GET /ingest/status: the age of the
 * catalog's elements and of its last load, last scene per imagery source).
 */
import type { ClusterView } from '../../../../protocol/messages/ws.js';
import { ago, getJson, h, utc } from './api.js';

interface IngestRunView {
  group: string;
  source: string;
  outcome: string;
  records: number;
  accepted: number;
  rejected: number;
  snapshotDate: string | null;
  message: string;
  finishedAt: string;
}
/** actors/tracker/catalog-age.ts CatalogElementAge, as /ingest/status sends it. */
interface ElementAgeView {
  objects: number;
  newestEpoch: string | null;
  medianEpoch: string | null;
  oldestEpoch: string | null;
  medianAgeDays: number | null;
  maxAgeDays: number | null;
  expired: number;
  byRegime: Record<'leo' | 'meo' | 'geo' | 'heo', { objects: number; expired: number; maxAgeDays: number }>;
}
export interface IngestStatus {
  at: string;
  catalog: { objects: number; lastRun: IngestRunView | null; lastLoaded: IngestRunView | null; ageS: number | null; elements: ElementAgeView | null };
  imagery: Array<{
    source: string;
    registered: number;
    rejected: number;
    lastScene: { itemId: string; outcome: string; reason: string; recordedAt: string; sceneTime: string | null; href: string | null };
  }>;
}

function stat(label: string, value: string | number, testid?: string): HTMLElement {
  return h('div', { class: 'stat', ...(testid ? { 'data-testid': testid } : {}) }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label));
}

export function renderCluster(root: HTMLElement, v: ClusterView): void {
  const t = v.totals;
  const queues = Object.entries(t.queues);
  const tasks = v.tasks;
  root.replaceChildren(
    h(
      'div',
      { class: 'stats' },
      stat('nodes', t.nodes, 'total-nodes'),
      stat('hosts', t.hosts),
      stat('actors', t.actors),
      stat('restarts', t.restarts),
      stat('dead letters', t.deadLetters),
      stat('tasks / min', tasks?.finishedPerMinute == null ? '—' : tasks.finishedPerMinute.toFixed(1)),
    ),
    h('h3', {}, 'Queue depth by priority'),
    queues.length
      ? h('div', { class: 'queues' }, ...queues.map(([q, d]) => h('div', { class: `queue q-${q}` }, h('span', {}, q), h('meter', { min: 0, max: Math.max(100, ...queues.map(([, x]) => x)), value: d }), h('b', {}, d))))
      : h('p', { class: 'hint' }, 'No queue reported.'),
    tasks ? h('p', { class: 'sub' }, 'Tasks by state: ', Object.entries(tasks.byState).map(([s, n]) => `${s} ${n}`).join(' · ') || 'none') : '',
    h('h3', {}, 'Nodes'),
    v.nodes.length === 0
      ? h('p', { class: 'hint' }, 'No node has reported yet.')
      : h(
          'div',
          { class: 'nodes' },
          ...v.nodes.map((n) =>
            h(
              'section',
              { class: 'node', 'data-testid': 'node', 'data-node-id': n.nodeId },
              h('header', {}, h('b', {}, n.nodeId), h('span', { class: 'roles' }, n.roles.join(' · ')), h('span', { class: 'age' }, `reported ${ago(n.ageMs)} ago`)),
              h(
                'table',
                { class: 'grid' },
                h('tr', {}, h('th', {}, 'Host'), h('th', {}, 'Role'), h('th', {}, 'State'), h('th', {}, 'Actors'), h('th', {}, 'Restarts'), h('th', {}, 'PID'), h('th', { title: 'event-loop delay p99; slow is busy, not dead: never a reason to restart' }, 'Loop')),
                ...n.hosts.map((x) =>
                  h(
                    'tr',
                    { class: `state-${x.state}${x.slow ? ' slow' : ''}` },
                    h('td', {}, x.hostId),
                    h('td', {}, x.role),
                    h('td', {}, x.state),
                    h('td', {}, x.actors),
                    h('td', {}, x.restarts),
                    h('td', {}, x.pid),
                    h('td', { 'data-testid': 'host-loop' }, loopCell(x)),
                  ),
                ),
              ),
              h('div', { class: 'sub' }, `dead letters ${n.deadLetters} · queues ${Object.entries(n.queues).map(([q, d]) => `${q} ${d.depth}`).join(', ') || '—'}`),
            ),
          ),
        ),
  );
}

/** Event-loop figures of a host: its p99 delay, and "slow" (busy, not dead) with the current stall when there is one. */
function loopCell(x: { slow?: boolean | undefined; eventLoopP99Ms?: number | undefined; stalledMs?: number | undefined }): string {
  const p99 = x.eventLoopP99Ms === undefined ? '—' : `${Math.round(x.eventLoopP99Ms)} ms`;
  if (!x.slow) return p99;
  return (x.stalledMs ?? 0) > 0 ? `slow · stalled ${(x.stalledMs! / 1000).toFixed(1)} s` : `slow · ${p99}`;
}

export function renderIngest(root: HTMLElement, s: IngestStatus): void {
  const c = s.catalog;
  const last = c.lastLoaded;
  const run = c.lastRun;
  const e = c.elements;
  root.replaceChildren(
    h(
      'div',
      { class: 'stats' },
      stat('catalog objects', c.objects, 'catalog-objects'),
      // The age of the ELEMENTS (median epoch of the active objects' newest sets), not of the load: an old snapshot loaded a minute ago is old.
      stat('element age (median)', e && e.medianAgeDays !== null ? ago(e.medianAgeDays * 86_400_000) : '—', 'catalog-age'),
      stat('oldest elements', e && e.maxAgeDays !== null ? ago(e.maxAgeDays * 86_400_000) : '—', 'catalog-oldest'),
      stat('past age limit', e ? `${e.expired} / ${e.objects}` : '—', 'catalog-expired'),
      stat('last load', c.ageS === null ? 'never loaded' : `${ago(c.ageS * 1000)} ago`, 'catalog-loaded'),
      stat('last run', run ? run.outcome : '—'),
    ),
    e && e.expired > 0
      ? h(
          'p',
          { class: 'error', 'data-testid': 'catalog-stale' },
          `${e.expired} of ${e.objects} objects are propagated from elements older than their orbit's limit (${(['leo', 'meo', 'geo', 'heo'] as const).map((k) => `${k.toUpperCase()} ${e.byRegime[k].maxAgeDays} d`).join(', ')}): not good, drawn dimmed. Median epoch ${e.medianEpoch ? utc(e.medianEpoch).slice(0, 10) : '—'}. Load a fresh catalog.`,
        )
      : '',
    last
      ? h('p', { class: 'sub' }, `Last loaded ${utc(last.finishedAt)} from ${last.source}`, last.snapshotDate ? ` (snapshot of ${last.snapshotDate})` : '', ` · ${last.accepted} accepted, ${last.rejected} rejected`)
      : '',
    run && run.outcome !== 'ok' && run.message ? h('p', { class: 'error' }, `Last run: ${run.message}`) : '',
    h('h3', {}, 'Last scene per source'),
    s.imagery.length === 0
      ? h('p', { class: 'hint', 'data-testid': 'no-scenes' }, 'No scene ingested yet.')
      : h(
          'table',
          { class: 'grid' },
          h('tr', {}, h('th', {}, 'Source'), h('th', {}, 'Last scene'), h('th', {}, 'Scene time'), h('th', {}, 'Recorded'), h('th', {}, 'Registered / rejected')),
          ...s.imagery.map((x) =>
            h(
              'tr',
              { class: x.lastScene.outcome },
              h('td', {}, x.source),
              h('td', {}, x.lastScene.href ? h('a', { href: x.lastScene.href, target: '_blank' }, x.lastScene.itemId) : x.lastScene.itemId),
              h('td', {}, x.lastScene.sceneTime ? utc(x.lastScene.sceneTime) : '—'),
              h('td', {}, `${ago(Date.parse(s.at) - Date.parse(x.lastScene.recordedAt))} ago`),
              h('td', {}, `${x.registered} / ${x.rejected}`),
            ),
          ),
        ),
  );
}

export async function loadCluster(root: HTMLElement): Promise<void> {
  try {
    renderCluster(root, await getJson<ClusterView>('/cluster'));
  } catch (err) {
    root.replaceChildren(h('p', { class: 'error' }, `Cluster view unavailable: ${err instanceof Error ? err.message : String(err)}`));
  }
}

export async function loadIngest(root: HTMLElement): Promise<void> {
  try {
    renderIngest(root, await getJson<IngestStatus>('/ingest/status'));
  } catch (err) {
    root.replaceChildren(h('p', { class: 'error' }, `Ingest status unavailable: ${err instanceof Error ? err.message : String(err)}`));
  }
}
