export { HOST_CONFIG_SCHEMA, HOST_ENV_VARIABLES, HOST_ENVIRONMENT_RULES, loadHostConfig, type HostConfig, type HostEnvVariable } from './config.js';
export { runHost, describeStartupError, type HostDeps, type HostHandle } from './run.js';
export { HOST_ERROR_CLASSES, HostError, HostListenError, type HostErrorClass, type HostErrorSource } from './host-errors.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export type { RecordStore, GetResult, WriteResult } from './storage/record-store.js';
