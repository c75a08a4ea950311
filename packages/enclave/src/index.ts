export { loadEnclaveConfig, ENCLAVE_ENV_VARIABLES, EnclaveConfigError, type EnclaveConfig } from './config.js';
export { runEnclave, type EnclaveHandle } from './run.js';
export { API_ERROR_CLASSES } from './http/api-errors.js';
export { createLogger, silentLogger } from './log.js';
