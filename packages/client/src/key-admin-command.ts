// `http-enclave keys status|rotate|reseal|retire URL [KEYID]`: the enclave's
// keyring administration (README, "The master keys on Nitro"), over an
// attested connection like put and get, with the admin token from
// HTTP_ENCLAVE_ADMIN_TOKEN. `reseal` runs batches until the enclave says
// the scan is complete; interrupted, it can simply be run again.

import type { AttestedClient } from './attested-client.js';
import { UsageError } from './cli-options.js';

/** Batches per `reseal` run at most: 100 000 × 256 records, far past any deployment here; it stops by itself. */
const MAX_RESEAL_BATCHES = 100_000;
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;

export type KeyAdminAction = 'status' | 'rotate' | 'reseal' | 'retire';

export function parseKeyAdminAction(text: string | undefined): KeyAdminAction {
  if (text === 'status' || text === 'rotate' || text === 'reseal' || text === 'retire') return text;
  throw new UsageError('keys takes status, rotate, reseal or retire');
}

interface AdminAnswer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

async function adminRequest(client: AttestedClient, adminToken: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<AdminAnswer> {
  const response = await client.request({
    method,
    path,
    headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { status: response.status, json };
}

/** Runs one admin action; writes JSON lines to `out`; returns the exit code (0 done, 1 refused). */
export async function runKeyAdminAction(
  client: AttestedClient,
  action: KeyAdminAction,
  adminToken: string,
  keyId: string | undefined,
  out: (line: string) => void,
): Promise<number> {
  const report = (answer: AdminAnswer): number => {
    out(JSON.stringify(answer.json));
    return answer.status === 200 ? 0 : 1;
  };
  switch (action) {
    case 'status':
      return report(await adminRequest(client, adminToken, 'GET', '/admin/keys'));
    case 'rotate':
      return report(await adminRequest(client, adminToken, 'POST', '/admin/keys/rotate', {}));
    case 'retire':
      if (keyId === undefined || !KEY_ID_PATTERN.test(keyId)) throw new UsageError('keys retire takes a KEYID of 16 hex digits (keys status lists them)');
      return report(await adminRequest(client, adminToken, 'POST', '/admin/keys/retire', { keyId }));
    case 'reseal': {
      let cursor: unknown = null;
      let resealed = 0;
      let examined = 0;
      for (let batch = 0; batch < MAX_RESEAL_BATCHES; batch += 1) {
        const answer = await adminRequest(client, adminToken, 'POST', '/admin/keys/reseal', cursor === null ? {} : { cursor });
        if (answer.status !== 200) return report(answer);
        resealed += Number(answer.json['resealed'] ?? 0);
        examined += Number(answer.json['examined'] ?? 0);
        if (answer.json['more'] !== true) {
          out(JSON.stringify({ done: true, examined, resealed }));
          return 0;
        }
        cursor = answer.json['cursor'];
      }
      out(JSON.stringify({ done: false, examined, resealed }));
      return 1;
    }
  }
}
