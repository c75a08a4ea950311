export * from './transport-address.js';
export * from './storage-frame.js';
export * from './telemetry-frame.js';
export * from './telemetry-counters.js';
