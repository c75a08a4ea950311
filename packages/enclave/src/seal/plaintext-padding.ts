import { SealInputError, StorageIntegrityError } from '../enclave-errors.js';
// Size-bucket padding of record plaintext before sealing, so the host learns
// only a bucket, not the exact length.
//
// Padded plaintext layout (all of it is encrypted):
//
//   offset  size      field
//   0       4         plaintext length L, u32 big-endian
//   4       L         plaintext
//   4+L     P-4-L     zero bytes
//
// Bucket size P for n = 4 + L:
//   n <= 65536 : P = max(256, smallest power of two >= n)   (256, 512, …, 65536)
//   n >  65536 : P = smallest multiple of 65536 >= n         (131072, 196608, …)
// On unpad: P must be a valid bucket, L <= P - 4, and every padding byte must
// be zero; otherwise the record is rejected (BAD_PADDING).


export const LENGTH_PREFIX_BYTES = 4;
/** MIN_BUCKET_BYTES = 256: smallest bucket; hides the size of short documents. */
export const MIN_BUCKET_BYTES = 256;
/** LARGE_BUCKET_STEP_BYTES = 64 KiB: above it buckets grow linearly (≤ 6.25 % overhead at 1 MiB). */
export const LARGE_BUCKET_STEP_BYTES = 65_536;
/**
 * MAX_PLAINTEXT_BYTES = 8 MiB: the largest MAX_BODY_BYTES the enclave accepts
 * (config.ts). The largest padded size is then 8 MiB + 64 KiB, and its
 * envelope fits MAX_BLOB_BYTES of the storage frames.
 */
export const MAX_PLAINTEXT_BYTES = 8 * 1_048_576;
export const MAX_PADDED_BYTES = paddedSizeFor(MAX_PLAINTEXT_BYTES);

/** Bucket size for a plaintext of `plaintextLength` bytes. */
export function paddedSizeFor(plaintextLength: number): number {
  if (!Number.isSafeInteger(plaintextLength) || plaintextLength < 0) {
    throw new SealInputError(`plaintext length must be a non-negative integer, got ${String(plaintextLength)}`);
  }
  const needed = LENGTH_PREFIX_BYTES + plaintextLength;
  if (needed <= LARGE_BUCKET_STEP_BYTES) {
    let bucket = MIN_BUCKET_BYTES;
    while (bucket < needed) bucket *= 2;
    return bucket;
  }
  return Math.ceil(needed / LARGE_BUCKET_STEP_BYTES) * LARGE_BUCKET_STEP_BYTES;
}

/** True when `size` is one of the bucket sizes paddedSizeFor can return, up to MAX_PADDED_BYTES. */
export function isValidPaddedSize(size: number): boolean {
  if (!Number.isSafeInteger(size) || size < MIN_BUCKET_BYTES || size > MAX_PADDED_BYTES) return false;
  if (size <= LARGE_BUCKET_STEP_BYTES) return (size & (size - 1)) === 0;
  return size % LARGE_BUCKET_STEP_BYTES === 0;
}

export function padPlaintext(plaintext: Buffer): Buffer {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new SealInputError(`plaintext is ${plaintext.length} bytes, maximum is ${MAX_PLAINTEXT_BYTES}`);
  }
  const padded = Buffer.alloc(paddedSizeFor(plaintext.length));
  padded.writeUInt32BE(plaintext.length, 0);
  plaintext.copy(padded, LENGTH_PREFIX_BYTES);
  return padded;
}

/** Returns a view of the plaintext inside `padded` after checking the length field and the zero padding. */
export function unpadPlaintext(padded: Buffer): Buffer {
  if (!isValidPaddedSize(padded.length)) {
    throw new StorageIntegrityError('BAD_PADDING', `padded size ${padded.length} is not a bucket size`);
  }
  const length = padded.readUInt32BE(0);
  if (length > padded.length - LENGTH_PREFIX_BYTES) {
    throw new StorageIntegrityError('BAD_PADDING', `length field exceeds padded size ${padded.length}`);
  }
  // Constant-time-ish: OR all padding bytes together instead of stopping at the first non-zero one.
  let nonZero = 0;
  for (let index = LENGTH_PREFIX_BYTES + length; index < padded.length; index += 1) {
    nonZero |= padded[index] ?? 0;
  }
  if (nonZero !== 0) {
    throw new StorageIntegrityError('BAD_PADDING', `padding of a ${padded.length}-byte bucket is not all zero`);
  }
  return padded.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length);
}
