// The double's key policy: a small, explicit stand-in for the parts of a KMS
// key policy that matter to an enclave.
//
//   allowDecryptWithoutRecipient   false = Deny kms:Decrypt without a Recipient
//   allowGenerateWithoutRecipient  false = Deny kms:GenerateDataKey without a Recipient
//   recipientConditions            StringEqualsIgnoreCase conditions that a request
//                                  with a Recipient must meet; keys are
//                                  kms:RecipientAttestation:ImageSha384 (= PCR0)
//                                  and kms:RecipientAttestation:PCR0 … PCR31,
//                                  values lower-case hex
//
// The production policy this mirrors (KMS developer guide, "Condition keys for
// AWS Nitro Enclaves"; reference §5.3), for reference:
//
//   {
//     "Version": "2012-10-17",
//     "Statement": [
//       {
//         "Sid": "AllowEnclaveOnly",
//         "Effect": "Allow",
//         "Principal": { "AWS": "arn:aws:iam::111122223333:role/enclave-parent" },
//         "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
//         "Resource": "*",
//         "Condition": {
//           "StringEqualsIgnoreCase": {
//             "kms:RecipientAttestation:ImageSha384": "<pcr0 hex>",
//             "kms:RecipientAttestation:PCR3": "<pcr3 hex>"
//           }
//         }
//       },
//       {
//         "Sid": "DenyWithoutAttestation",
//         "Effect": "Deny",
//         "Principal": "*",
//         "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
//         "Resource": "*",
//         "Condition": { "Null": { "kms:RecipientAttestation:ImageSha384": "true" } }
//       }
//     ]
//   }

export interface KeyPolicy {
  readonly allowDecryptWithoutRecipient: boolean;
  readonly allowGenerateWithoutRecipient: boolean;
  readonly recipientConditions: Readonly<Record<string, string>>;
}

export const IMAGE_SHA384_CONDITION = 'kms:RecipientAttestation:ImageSha384';
const PCR_CONDITION = /^kms:RecipientAttestation:PCR([0-9]|[12][0-9]|3[01])$/;

/** The policy of a key made without one: the production shape with no PCR pinned. */
export const DENY_WITHOUT_RECIPIENT_POLICY: KeyPolicy = Object.freeze({
  allowDecryptWithoutRecipient: false,
  allowGenerateWithoutRecipient: false,
  recipientConditions: Object.freeze({}),
});

/** Validates a policy given by a test or KMS_DOUBLE_POLICY_JSON; throws TypeError naming the field. */
export function parseKeyPolicy(value: unknown): KeyPolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('key policy must be an object');
  const record = value as Record<string, unknown>;
  const known = new Set(['allowDecryptWithoutRecipient', 'allowGenerateWithoutRecipient', 'recipientConditions']);
  for (const key of Object.keys(record)) {
    if (!known.has(key)) throw new TypeError(`key policy: unknown field ${key}`);
  }
  const { allowDecryptWithoutRecipient, allowGenerateWithoutRecipient, recipientConditions } = record;
  if (typeof allowDecryptWithoutRecipient !== 'boolean') throw new TypeError('key policy: allowDecryptWithoutRecipient must be a boolean');
  if (typeof allowGenerateWithoutRecipient !== 'boolean') throw new TypeError('key policy: allowGenerateWithoutRecipient must be a boolean');
  if (typeof recipientConditions !== 'object' || recipientConditions === null || Array.isArray(recipientConditions)) {
    throw new TypeError('key policy: recipientConditions must be an object');
  }
  const conditions: Record<string, string> = {};
  for (const [key, expected] of Object.entries(recipientConditions as Record<string, unknown>)) {
    if (key !== IMAGE_SHA384_CONDITION && !PCR_CONDITION.test(key)) throw new TypeError(`key policy: unsupported condition key ${key}`);
    if (typeof expected !== 'string' || !/^[0-9a-fA-F]+$/.test(expected)) throw new TypeError(`key policy: ${key} must be a hex string`);
    conditions[key] = expected;
  }
  return Object.freeze({ allowDecryptWithoutRecipient, allowGenerateWithoutRecipient, recipientConditions: Object.freeze(conditions) });
}

/** The PCR index a condition key reads (ImageSha384 is PCR0). */
export function pcrIndexOfCondition(key: string): number | null {
  if (key === IMAGE_SHA384_CONDITION) return 0;
  const match = PCR_CONDITION.exec(key);
  return match === null ? null : Number(match[1]);
}

/**
 * Evaluates the Recipient conditions against the attested PCRs
 * (StringEqualsIgnoreCase on lower-case hex). Returns the first failing
 * condition key, or null when all hold.
 */
export function findFailingCondition(policy: KeyPolicy, pcrs: ReadonlyMap<number, Uint8Array>): string | null {
  for (const [key, expected] of Object.entries(policy.recipientConditions)) {
    const index = pcrIndexOfCondition(key);
    const actual = index === null ? undefined : pcrs.get(index);
    if (actual === undefined) return key;
    if (Buffer.from(actual).toString('hex') !== expected.toLowerCase()) return key;
  }
  return null;
}

export function allowsWithoutRecipient(policy: KeyPolicy, operation: 'Decrypt' | 'GenerateDataKey'): boolean {
  return operation === 'Decrypt' ? policy.allowDecryptWithoutRecipient : policy.allowGenerateWithoutRecipient;
}
