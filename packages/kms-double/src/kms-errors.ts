// KMS's error catalogue as the double answers it. AWS JSON 1.1 errors
// (AWS "JSON protocol" error responses; KMS API reference, "Errors"):
//
//   HTTP/1.1 400 (500 for KMSInternalException)
//   Content-Type: application/x-amz-json-1.1
//   x-amzn-RequestId: <uuid>
//   x-amzn-ErrorType: <type>
//   {"__type":"<type>","message":"…"}
//
// Messages name fields and give lengths, never key material or plaintext.

export const KMS_ERROR_TYPES = [
  'AccessDeniedException',
  'DisabledException',
  'ExpiredTokenException',
  'IncompleteSignatureException',
  'IncorrectKeyException',
  'InvalidCiphertextException',
  'InvalidKeyUsageException',
  'InvalidSignatureException',
  'KMSInternalException',
  'KMSInvalidStateException',
  'NotFoundException',
  'SerializationException',
  'UnknownOperationException',
  'UnrecognizedClientException',
  'ValidationException',
] as const;
export type KmsErrorType = (typeof KMS_ERROR_TYPES)[number];

/** The HTTP status KMS uses for each type: 500 for its own failures, 400 otherwise. */
export function statusForKmsError(type: KmsErrorType): number {
  return type === 'KMSInternalException' ? 500 : 400;
}

/** A KMS error answer; `type` is the stable code tests match on. */
export class KmsError extends Error {
  readonly type: KmsErrorType;
  readonly status: number;

  constructor(type: KmsErrorType, message: string) {
    super(message);
    this.name = 'KmsError';
    this.type = type;
    this.status = statusForKmsError(type);
  }
}

export function isKmsErrorType(value: unknown): value is KmsErrorType {
  return typeof value === 'string' && (KMS_ERROR_TYPES as readonly string[]).includes(value);
}
