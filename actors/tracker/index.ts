/**
 * Orbit-tracking core: pure, infrastructure-free pieces the tracker actors,
 * the ingest actor and the gateway build on. Nothing here touches NATS, a
 * database or HTTP.
 */
export * from './rejection.js';
export * from './tle.js';
export * from './omm.js';
export * from './element-set.js';
export * from './propagate.js';
export * from './qa.js';
export * from './look-angles.js';
export * from './passes.js';
export * from './ground-track.js';
export * from './snapshot.js';
