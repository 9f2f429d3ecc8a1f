/**
 * The alerts panel: recent alerts from GET /alerts on load, then every
 * alert the gateway pushes on the websocket's alert channel (ahead of
 * position frames). Deduplicated by alert id (a replay after a reconnect
 * repeats alerts already shown).
 *
 * Rows (alert-groups.ts decides them): repeated alerts of one kind are one
 * row with their count that expands to the list (an old catalog raises
 * hundreds of per-object `decay` alerts); the tracker's grouped
 * `decay-stale-elements` alert expands to its objects. Critical alerts come
 * first, then storm warnings, both drawn to stand out; then newest first.
 */
import type { AlertRaised } from '../../../../protocol/messages/satellite-state.js';
import { alertRows, groupMembers, isStorm, type ShownAlert } from './alert-groups.js';
import { ago, getJson, h, utc } from './api.js';

/** GET /alerts answers at most 500 (actors/gateway/alerts-api.ts). */
const LOAD_LIMIT = 500;
/** Members listed when a row is expanded; the rest are counted. */
const MAX_EXPANDED = 200;

export class AlertsPanel {
  private readonly alerts = new Map<string, ShownAlert>();
  /** Row keys the user expanded, kept across re-renders. */
  private readonly expanded = new Set<string>();

  constructor(
    private readonly list: HTMLElement,
    private readonly badge: HTMLElement,
    private readonly select: (id: number) => void,
  ) {
    setInterval(() => this.render(), 30_000);
  }

  async load(): Promise<void> {
    try {
      const r = await getJson<{ alerts: ShownAlert[] }>(`/alerts?limit=${LOAD_LIMIT}`);
      for (const a of r.alerts) this.put(a);
      this.render();
    } catch (err) {
      if (this.alerts.size === 0) this.list.replaceChildren(h('li', { class: 'hint' }, `Alerts unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  add(a: AlertRaised): void {
    this.put(a);
    this.render();
  }

  /**
   * A grouped alert pushed again when it grew carries its count
   * (payload.objects), not its members: keep the member list already loaded.
   */
  private put(a: ShownAlert): void {
    const old = this.alerts.get(a.id);
    if (old && Array.isArray(old.payload?.['noradIds']) && !Array.isArray(a.payload?.['noradIds'])) {
      this.alerts.set(a.id, { ...a, payload: { ...a.payload, noradIds: old.payload['noradIds'] } });
    } else this.alerts.set(a.id, a);
  }

  private render(): void {
    const all = [...this.alerts.values()];
    const open = all.filter((a) => !a.acknowledgedAt && a.severity !== 'info').length;
    this.badge.textContent = open > 0 ? String(open) : '';
    const rows = alertRows(all);
    if (rows.length === 0) {
      this.list.replaceChildren(h('li', { class: 'hint' }, 'No alerts.'));
      return;
    }
    const now = Date.now();
    this.list.replaceChildren(
      ...rows.map((row) => {
        const a = row.alerts[0]!;
        const members = groupMembers(row);
        const isOpen = this.expanded.has(row.key);
        const li = h(
          'li',
          { class: `alert ${row.severity}${isStorm(row.kind) ? ' storm' : ''}${members ? ' group' : ''}`, title: `${utc(row.newestAt)}: ${row.title}`, 'data-kind': row.kind, 'data-count': row.count },
          h('span', { class: 'sev' }, row.severity),
          h('span', { class: 'kind' }, row.kind),
          h('span', { class: 'msg' }, members ? h('b', { class: 'count' }, String(row.count)) : null, members ? ` ${row.title.replace(/^\d+ /, '')}` : row.title),
          h('span', { class: 'when' }, `${ago(now - row.newestAt)} ago`),
        );
        if (members) {
          li.setAttribute('aria-expanded', String(isOpen));
          li.classList.add('clickable');
          li.addEventListener('click', (e) => {
            if ((e.target as HTMLElement).closest('.members')) return;
            if (this.expanded.has(row.key)) this.expanded.delete(row.key);
            else this.expanded.add(row.key);
            this.render();
          });
          if (isOpen) {
            const shown = members.slice(0, MAX_EXPANDED);
            const ul = h(
              'ul',
              { class: 'members' },
              ...shown.map((m) => {
                const item = h('li', { 'data-id': m.noradId ?? undefined, title: m.message }, m.message);
                if (m.noradId !== null) {
                  item.classList.add('clickable');
                  item.addEventListener('click', () => this.select(m.noradId!));
                }
                return item;
              }),
              members.length > shown.length ? h('li', { class: 'hint' }, `… and ${members.length - shown.length} more`) : null,
            );
            li.append(ul);
          }
        } else if (a.noradId !== null) {
          li.classList.add('clickable');
          li.addEventListener('click', () => this.select(a.noradId!));
        }
        return li;
      }),
    );
  }
}
