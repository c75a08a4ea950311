export { createAttestedClient, AttestedClient, DEFAULT_MAX_DOCUMENT_AGE_MS } from './attested-client.js';
export type { AttestedClientOptions, AttestedPolicy, AttestedRequest, AttestedResponse, VerifiedEnclave } from './attested-client.js';
export { AttestedClientError, CLIENT_ERROR_CODES, type ClientErrorCode } from './client-errors.js';
export { formatVerificationReport } from './verification-report.js';
