/**
 * The filter controls above the details panel: catalog group, orbit regime,
 * name pattern and QA state, each choice with its count (filters.ts), and a
 * line saying how many of the tracked objects the map shows.
 */
import { ORBIT_REGIMES } from '../../../tracker/orbit-regime.js';
import { h } from './api.js';
import { QA_STATES, type FilterCounts, type ObjectFilter, type QaState } from './filters.js';
import type { OrbitRegime } from '../../../tracker/orbit-regime.js';

const QA_LABELS: Record<QaState, string> = { good: 'QA good', 'not-good': 'QA not good', expired: 'Elements expired' };
const fmt = (n: number): string => n.toLocaleString('en');

export class FilterPanel {
  private readonly group = h('select', { id: 'filter-group', 'aria-label': 'Catalog group' });
  private readonly regime = h('select', { id: 'filter-regime', 'aria-label': 'Orbit regime' });
  private readonly name = h('input', { id: 'filter-name', type: 'search', placeholder: 'Name pattern, e.g. STARLINK*', autocomplete: 'off', 'aria-label': 'Name pattern' });
  private readonly qa = h('select', { id: 'filter-qa', 'aria-label': 'QA state' });
  private readonly summary = h('p', { id: 'filter-summary', class: 'sub' });

  constructor(
    root: HTMLElement,
    private readonly filter: ObjectFilter,
    private readonly onChange: () => void,
  ) {
    root.replaceChildren(h('div', { class: 'filter-row' }, this.group, this.regime), h('div', { class: 'filter-row' }, this.name, this.qa), this.summary);
    this.group.addEventListener('change', () => this.apply({ group: this.group.value }));
    this.regime.addEventListener('change', () => this.apply({ regime: this.regime.value as OrbitRegime | '' }));
    this.qa.addEventListener('change', () => this.apply({ qa: this.qa.value as QaState | '' }));
    this.name.addEventListener('input', () => this.apply({ pattern: this.name.value }));
  }

  private apply(next: Parameters<ObjectFilter['set']>[0]): void {
    this.filter.set(next);
    this.onChange();
  }

  /** Rewrites the choices' counts (keeping what is chosen) and the summary line. */
  render(c: FilterCounts): void {
    const groups = [...c.group.keys()].sort();
    const chosen = this.filter.state.group;
    if (chosen !== '' && !groups.includes(chosen)) groups.unshift(chosen);
    fill(this.group, [['', `All groups (${fmt(c.groupAll)})`, c.groupAll], ...groups.map((g): Option => [g, `${g} (${fmt(c.group.get(g) ?? 0)})`, c.group.get(g) ?? 0])], chosen);
    fill(this.regime, [['', `All regimes (${fmt(c.regimeAll)})`, c.regimeAll], ...ORBIT_REGIMES.map((r): Option => [r, `${r.toUpperCase()} (${fmt(c.regime[r])})`, c.regime[r]])], this.filter.state.regime);
    fill(this.qa, [['', `Any QA (${fmt(c.qaAll)})`, c.qaAll], ...QA_STATES.map((s): Option => [s, `${QA_LABELS[s]} (${fmt(c.qa[s])})`, c.qa[s]])], this.filter.state.qa);
    this.summary.textContent = this.filter.active ? `Showing ${fmt(c.shown)} of ${fmt(c.total)} objects` : `Showing all ${fmt(c.total)} objects`;
    this.summary.dataset['shown'] = String(c.shown);
  }
}

type Option = [value: string, label: string, count: number];

/** Updates options in place where they are the same values (an open select stays open and chosen). */
function fill(select: HTMLSelectElement, options: Option[], chosen: string): void {
  const same = select.options.length === options.length && options.every(([v], i) => select.options[i]!.value === v);
  if (!same) select.replaceChildren(...options.map(([v]) => h('option', { value: v })));
  options.forEach(([, label, count], i) => {
    const el = select.options[i]!;
    if (el.textContent !== label) el.textContent = label;
    el.dataset['count'] = String(count);
  });
  select.value = chosen;
}
