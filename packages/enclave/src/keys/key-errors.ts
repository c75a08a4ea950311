// Error classes of the keyring: bad master-key configuration and lookups of
// key ids the keyring does not hold. Messages give lengths and types only,
// never key material, tokens or ids derived from secrets.

/** ENCLAVE_KEY_BASE64 (or another key source) is missing or malformed. Start-up error. */
export class ConfigKeyError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly source = 'config';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = 'ConfigKeyError';
    this.variable = variable;
  }
}

/** A caller-side misuse of the keyring API (wrong length, bad arguments): an enclave bug. */
export class KeyringUsageError extends Error {
  readonly code = 'KEYRING_USAGE';
  readonly source = 'internal';
  constructor(message: string) {
    super(message);
    this.name = 'KeyringUsageError';
  }
}
