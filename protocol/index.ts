export * from './errors.js';
export * from './names.js';
export * from './message.js';
export * from './topology.js';
export type * from './transport.js';
export * from './messages/work-task.js';
export * from './messages/dead-letter.js';
export * from './messages/cluster.js';
export * from './frames/tracker-state.js';
