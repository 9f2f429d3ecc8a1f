/**
 * The QA flag bits of a tracker state: the u32 at +4 of every tracker frame
 * record (frames/tracker-state.ts), `flagBits`/`flags` of satellite.state
 * (messages/satellite-state.ts). One table: the tracker's rules
 * (actors/tracker/qa.ts) name their bits from it, the protocol reference
 * prints it. A state is good when it carries no bit whose `good` is false.
 */
export interface QaFlagSpec {
  bit: number;
  name: string;
  /** False: a state with this bit is not good (not drawn as live, `good: false` in REST). */
  good: boolean;
  meaning: string;
}

export const QA_FLAG_TABLE: readonly QaFlagSpec[] = [
  { bit: 0, name: 'sgp4_error', good: false, meaning: 'SGP4 returned an error code; the state values may be NaN' },
  { bit: 1, name: 'decayed', good: false, meaning: 'SGP4 error 6 or satellite.js checkForDecay: the elements place the object below the atmosphere' },
  { bit: 2, name: 'altitude_low', good: false, meaning: 'altitude below 80 km (or not a number)' },
  { bit: 3, name: 'altitude_high', good: false, meaning: 'altitude above 500,000 km' },
  { bit: 4, name: 'eccentricity', good: false, meaning: 'eccentricity outside [0, 1)' },
  { bit: 5, name: 'mean_motion', good: false, meaning: 'mean motion outside 0.025–17.5 rev/day' },
  { bit: 6, name: 'vis_viva', good: false, meaning: 'speed more than 1 % from the vis-viva speed of the mean semi-major axis' },
  { bit: 7, name: 'displacement', good: true, meaning: 'position more than 50 m from a second-order prediction from the previous state (≤ 10 s before)' },
  { bit: 8, name: 'switch_jump', good: true, meaning: 'the first state after an element-set switch-over moved more than 25 km' },
  { bit: 9, name: 'stale_epoch', good: true, meaning: 'elements older than 14 days: a warning, the state stays good' },
  { bit: 10, name: 'elements_expired', good: false, meaning: "elements older than their orbit regime's limit (LEO 30 d, MEO 60 d, GEO 90 d, HEO 30 d by default; STARWEATHER_MAX_ELEMENT_AGE_DAYS_*): a credible orbit, but not where the object is" },
];

/** The table above, for the generated protocol reference. */
export const QA_FLAGS_DOC = [
  'Bits of the u32 QA flags of a tracker frame record and of `satellite.state` `flagBits` (`flags` lists their names). A state is good when none of its bits says "not good".',
  '',
  '| bit | value | name | good | meaning |',
  '| --- | --- | --- | --- | --- |',
  ...QA_FLAG_TABLE.map((f) => `| ${f.bit} | ${1 << f.bit} | \`${f.name}\` | ${f.good ? 'yes' : '**not good**'} | ${f.meaning} |`),
].join('\n');
