export { loadEnclaveConfig, ENCLAVE_CONFIG_SCHEMA, ENCLAVE_ENV_VARIABLES, ENCLAVE_ENVIRONMENT_RULES, type EnclaveConfig } from './config.js';
export { runEnclave, type EnclaveHandle } from './run.js';
export { API_ERROR_CLASSES } from './http/api-errors.js';
export { createLogger, silentLogger } from './log.js';
export { measureRunningEnclave } from './attest/code-measurement.js';
export { KMS_FAILURE_REASONS, KEYRING_DOCUMENT_REASONS } from './keys/kms/kms-errors.js';
export { CMS_ENVELOPE_REASONS } from './keys/kms/cms-errors.js';
