// AWS credentials from the host, cached until shortly before they expire.
// The host refreshes the role's credentials itself; this only avoids asking
// for every KMS call, and asks again when KMS said they expired.

import type { AwsCredentials } from './kms-client.js';

/** Ask again when less than this is left (the host refreshes 5 minutes ahead too). */
export const CREDENTIALS_REFRESH_BEFORE_MS = 5 * 60_000;

export function createCredentialsCache(
  fetchCredentials: () => Promise<AwsCredentials>,
  now: () => number = Date.now,
): (forceRefresh: boolean) => Promise<AwsCredentials> {
  let cached: AwsCredentials | undefined;
  return async (forceRefresh) => {
    const fresh =
      cached !== undefined && !forceRefresh && (cached.expiration === undefined || cached.expiration.getTime() - now() > CREDENTIALS_REFRESH_BEFORE_MS);
    if (fresh && cached !== undefined) return cached;
    cached = await fetchCredentials();
    return cached;
  };
}
