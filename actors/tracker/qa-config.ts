/** QA limits from the node's configuration (config/schema.ts, tracker.*). */
import type { Config } from '../../config/load.js';
import { DEFAULT_QA_LIMITS, type QaLimits } from './qa.js';

export function qaLimitsFromConfig(cfg: Pick<Config, 'tracker'>, base: QaLimits = DEFAULT_QA_LIMITS): QaLimits {
  const t = cfg.tracker;
  return { ...base, maxElementAgeDays: { leo: t.maxElementAgeDaysLeo, meo: t.maxElementAgeDaysMeo, geo: t.maxElementAgeDaysGeo, heo: t.maxElementAgeDaysHeo } };
}
