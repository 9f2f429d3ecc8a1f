/**
 * The alerts panel: recent alerts from GET /alerts on load, then every
 * alert the gateway pushes on the websocket's alert channel (ahead of
 * position frames). Newest first, deduplicated by alert id (a replay after
 * a reconnect repeats alerts already shown).
 */
import type { AlertRaised } from '../../../../protocol/messages/satellite-state.js';
import { ago, getJson, h, utc } from './api.js';

const MAX_SHOWN = 50;

export class AlertsPanel {
  private readonly alerts = new Map<string, AlertRaised & { acknowledgedAt?: string | null }>();

  constructor(
    private readonly list: HTMLElement,
    private readonly badge: HTMLElement,
    private readonly select: (id: number) => void,
  ) {
    setInterval(() => this.render(), 30_000);
  }

  async load(): Promise<void> {
    try {
      const r = await getJson<{ alerts: Array<AlertRaised & { acknowledgedAt: string | null }> }>('/alerts?limit=50');
      for (const a of r.alerts) this.alerts.set(a.id, a);
      this.render();
    } catch (err) {
      if (this.alerts.size === 0) this.list.replaceChildren(h('li', { class: 'hint' }, `Alerts unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  add(a: AlertRaised): void {
    this.alerts.set(a.id, a);
    this.render();
  }

  private render(): void {
    const sorted = [...this.alerts.values()].sort((a, b) => Date.parse(b.raisedAt) - Date.parse(a.raisedAt)).slice(0, MAX_SHOWN);
    const open = sorted.filter((a) => !a.acknowledgedAt && a.severity !== 'info').length;
    this.badge.textContent = open > 0 ? String(open) : '';
    if (sorted.length === 0) {
      this.list.replaceChildren(h('li', { class: 'hint' }, 'No alerts.'));
      return;
    }
    this.list.replaceChildren(
      ...sorted.map((a) => {
        const li = h(
          'li',
          { class: `alert ${a.severity}`, title: `${utc(a.raisedAt)}: ${a.message}` },
          h('span', { class: 'sev' }, a.severity),
          h('span', { class: 'kind' }, a.kind),
          h('span', { class: 'msg' }, a.message),
          h('span', { class: 'when' }, `${ago(Date.now() - Date.parse(a.raisedAt))} ago`),
        );
        if (a.noradId !== null) {
          li.classList.add('clickable');
          li.addEventListener('click', () => this.select(a.noradId!));
        }
        return li;
      }),
    );
  }
}
