export { loadEnclaveConfig, ENCLAVE_CONFIG_SCHEMA, ENCLAVE_ENV_VARIABLES, ENCLAVE_ENVIRONMENT_RULES, type EnclaveConfig } from './config.js';
export { runEnclave, type EnclaveHandle } from './run.js';
export { createLogger, silentLogger } from './log.js';
export { measureRunningEnclave } from './attest/code-measurement.js';
export {
  API_ERROR_CLASSES,
  CMS_ENVELOPE_REASONS,
  ConfigInvalidError,
  EnclaveError,
  INTERNAL_ERROR_CLASSES,
  KEY_RELEASE_ERROR_CLASSES,
  KEYRING_DOCUMENT_REASONS,
  KMS_FAILURE_REASONS,
  STORAGE_INTEGRITY_REASONS,
} from './enclave-errors.js';
