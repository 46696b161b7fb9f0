export * from './errors.js';
export * from './log.js';
export * from './metrics.js';
export * from './shutdown.js';
export * from './config.js';
export * from './telemetry.js';
export * from './main.js';
export * from './health.js';
