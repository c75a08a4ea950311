// The KMS double program's configuration: one pure function from the
// environment to a frozen object, reporting every bad variable at once.
//
//   KMS_DOUBLE_DEV_ROOT_CERT_PATH   attestation root (PEM or DER) Recipient documents chain to   required
//   KMS_DOUBLE_REGION               e.g. us-east-1                                               required
//   KMS_DOUBLE_ACCESS_KEY_ID        the one credential the double knows                          required
//   KMS_DOUBLE_SECRET_ACCESS_KEY                                                                 required
//   KMS_DOUBLE_SESSION_TOKEN        makes it a session credential                                optional
//   KMS_DOUBLE_POLICY_JSON          key policy of the key made at start (key-policy.ts)          optional: deny without Recipient, no PCR pinned
//   KMS_DOUBLE_CA_DIR               where ca.pem is written                                      optional: a temporary directory
//   KMS_DOUBLE_PORT                 0..65535                                                     optional: 0 (any free port)

import { parseKeyPolicy, type KeyPolicy } from './key-policy.js';

export interface KmsDoubleConfig {
  readonly devRootCertificatePath: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string | null;
  readonly policy: KeyPolicy | null;
  readonly caDirectory: string | null;
  readonly port: number;
}

export class KmsDoubleConfigError extends Error {
  readonly code = 'KMS_DOUBLE_CONFIG_INVALID';
  readonly variables: readonly string[];

  constructor(problems: readonly { variable: string; problem: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable} ${p.problem}`).join('; ')}`);
    this.name = 'KmsDoubleConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

export function readKmsDoubleConfig(env: Readonly<Record<string, string | undefined>>): KmsDoubleConfig {
  const problems: { variable: string; problem: string }[] = [];
  const required = (variable: string): string => {
    const value = env[variable];
    if (value === undefined || value === '') {
      problems.push({ variable, problem: 'is required' });
      return '';
    }
    return value;
  };
  const optional = (variable: string): string | null => {
    const value = env[variable];
    return value === undefined || value === '' ? null : value;
  };
  const devRootCertificatePath = required('KMS_DOUBLE_DEV_ROOT_CERT_PATH');
  const region = required('KMS_DOUBLE_REGION');
  if (region !== '' && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) problems.push({ variable: 'KMS_DOUBLE_REGION', problem: 'is not an AWS region name' });
  const accessKeyId = required('KMS_DOUBLE_ACCESS_KEY_ID');
  const secretAccessKey = required('KMS_DOUBLE_SECRET_ACCESS_KEY');
  let policy: KeyPolicy | null = null;
  const policyJson = optional('KMS_DOUBLE_POLICY_JSON');
  if (policyJson !== null) {
    try {
      policy = parseKeyPolicy(JSON.parse(policyJson));
    } catch (error) {
      problems.push({ variable: 'KMS_DOUBLE_POLICY_JSON', problem: error instanceof TypeError ? `is invalid (${error.message})` : 'is not JSON' });
    }
  }
  const portText = optional('KMS_DOUBLE_PORT') ?? '0';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) problems.push({ variable: 'KMS_DOUBLE_PORT', problem: 'must be 0..65535' });
  if (problems.length > 0) throw new KmsDoubleConfigError(problems);
  return Object.freeze({
    devRootCertificatePath,
    region,
    accessKeyId,
    secretAccessKey,
    sessionToken: optional('KMS_DOUBLE_SESSION_TOKEN'),
    policy,
    caDirectory: optional('KMS_DOUBLE_CA_DIR'),
    port,
  });
}
