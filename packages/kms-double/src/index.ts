// @http-enclave/kms-double: TEST ONLY. A faithful AWS KMS double (HTTPS,
// AWS JSON 1.1, SigV4, Recipient attestation, CMS CiphertextForRecipient).
// Nothing in packages/enclave or packages/host may import it.
export * from './kms-errors.js';
export * from './sigv4-verifier.js';
export * from './key-policy.js';
export * from './key-store.js';
export * from './ciphertext-blob.js';
export * from './cms-envelope-builder.js';
export * from './recipient-attestation.js';
export * from './faults.js';
export * from './server.js';
export * from './kms-double-config.js';
export * from './run-kms-double.js';
