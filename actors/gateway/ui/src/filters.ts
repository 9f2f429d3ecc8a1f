/**
 * Which objects the map shows: by catalog group, orbit regime, name pattern
 * and QA state, all applied together; and, for each choice of each filter,
 * how many objects it would show with the other filters as they are (the
 * counts beside the choices).
 */
import type { OrbitRegime } from '../../../tracker/orbit-regime.js';
import { ORBIT_REGIMES } from '../../../tracker/orbit-regime.js';
import { isGood, QA_ELEMENTS_EXPIRED } from '../../../tracker/qa.js';
import type { TrackedObject } from './state-store.js';

/** What the filters know of an object beyond its frames (loaded by catalog-meta.ts). */
export interface ObjectMeta {
  name: string;
  groups: readonly string[];
  /** null: no element set in TLE form (an OMM-only object, or the catalog export refused). */
  regime: OrbitRegime | null;
}

/**
 * QA states, from the state's flags (actors/tracker/qa.ts): good (no flag
 * that makes a state not good), not good, and expired elements (not good
 * because the element set is past its regime's age limit).
 */
export type QaState = 'good' | 'not-good' | 'expired';
export const QA_STATES: readonly QaState[] = ['good', 'not-good', 'expired'];

export interface FilterState {
  group: string;
  regime: OrbitRegime | '';
  pattern: string;
  qa: QaState | '';
}

export interface FilterCounts {
  total: number;
  shown: number;
  /** Objects per group (each object in each of its groups), the other filters applied. */
  group: Map<string, number>;
  groupAll: number;
  regime: Record<OrbitRegime, number>;
  regimeAll: number;
  qa: Record<QaState, number>;
  qaAll: number;
}

export function qaStates(flags: number): QaState[] {
  if (isGood(flags)) return ['good'];
  return (flags & QA_ELEMENTS_EXPIRED) !== 0 ? ['not-good', 'expired'] : ['not-good'];
}

/**
 * A name pattern as a test: case-insensitive; `*` any run of characters and
 * `?` one character, anchored at both ends; without a wildcard, a substring.
 * An all-digit pattern also matches the NORAD id (as the search API does).
 */
export function namePattern(pattern: string): (name: string, id: number) => boolean {
  const p = pattern.trim();
  if (p === '') return () => true;
  const digits = /^\d+$/.test(p) ? Number(p) : null;
  let re: RegExp;
  if (/[*?]/.test(p)) {
    const body = p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 'i');
  } else {
    re = new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
  return (name, id) => re.test(name) || id === digits;
}

export class ObjectFilter {
  state: FilterState = { group: '', regime: '', pattern: '', qa: '' };
  meta = new Map<number, ObjectMeta>();
  private nameTest = namePattern('');

  set(next: Partial<FilterState>): void {
    this.state = { ...this.state, ...next };
    this.nameTest = namePattern(this.state.pattern);
  }

  get active(): boolean {
    const s = this.state;
    return s.group !== '' || s.regime !== '' || s.pattern.trim() !== '' || s.qa !== '';
  }

  /** The four tests for one object: group, regime, name, QA. Objects whose metadata has not loaded match only filters that need none. */
  private tests(o: TrackedObject): [boolean, boolean, boolean, boolean] {
    const s = this.state;
    const m = this.meta.get(o.id);
    return [
      s.group === '' || (m !== undefined && m.groups.includes(s.group)),
      s.regime === '' || (m !== undefined && m.regime === s.regime),
      s.pattern.trim() === '' || this.nameTest(m?.name ?? '', o.id),
      s.qa === '' || qaStates(o.flags).includes(s.qa),
    ];
  }

  /** Called per object per animation frame while a filter is set: the same tests as tests(), without allocating. */
  matches = (o: TrackedObject): boolean => {
    const s = this.state;
    const m = this.meta.get(o.id);
    if (s.group !== '' && !(m !== undefined && m.groups.includes(s.group))) return false;
    if (s.regime !== '' && !(m !== undefined && m.regime === s.regime)) return false;
    if (s.qa !== '' && !(s.qa === 'good' ? isGood(o.flags) : s.qa === 'not-good' ? !isGood(o.flags) : (o.flags & QA_ELEMENTS_EXPIRED) !== 0)) return false;
    return s.pattern.trim() === '' || this.nameTest(m?.name ?? '', o.id);
  };

  counts(objects: Iterable<TrackedObject>): FilterCounts {
    const c: FilterCounts = {
      total: 0,
      shown: 0,
      group: new Map(),
      groupAll: 0,
      regime: Object.fromEntries(ORBIT_REGIMES.map((r) => [r, 0])) as Record<OrbitRegime, number>,
      regimeAll: 0,
      qa: { good: 0, 'not-good': 0, expired: 0 },
      qaAll: 0,
    };
    for (const o of objects) {
      c.total++;
      const [g, r, n, q] = this.tests(o);
      if (g && r && n && q) c.shown++;
      const m = this.meta.get(o.id);
      if (r && n && q) {
        c.groupAll++;
        for (const name of m?.groups ?? []) c.group.set(name, (c.group.get(name) ?? 0) + 1);
      }
      if (g && n && q) {
        c.regimeAll++;
        if (m?.regime) c.regime[m.regime]++;
      }
      if (g && r && n) {
        c.qaAll++;
        for (const s of qaStates(o.flags)) c.qa[s]++;
      }
    }
    return c;
  }
}
