// @http-enclave/attestation: verifies AWS Nitro Enclaves attestation documents
// on the client side. Node built-ins only; no enclave code (see README.md).
export * from './reason-codes.js';
export * from './cbor-decoder.js';
export * from './cose-sign1.js';
export * from './attestation-document.js';
export * from './certificate-chain.js';
export * from './certificate-profile.js';
export * from './der-reader.js';
export * from './user-data-binding.js';
export * from './attestation-policy.js';
export * from './verify-attestation.js';
