// A readable report of a verified attestation document: what was checked,
// the module, time, PCRs, chain subjects and the TLS binding.

import { X509Certificate } from 'node:crypto';
import type { AttestationResult } from '@http-enclave/attestation';

type Verified = Extract<AttestationResult, { ok: true }>;

export function formatVerificationReport(
  result: Verified,
  extra: { readonly endpoint?: string; readonly tlsFingerprint256?: string; readonly measurementsPinned?: boolean } = {},
): string {
  const { document } = result;
  const lines: string[] = [];
  lines.push(`attestation: VERIFIED${result.anchor === 'dev' ? ' (DEV ROOT: not a real enclave)' : ''}`);
  if (extra.measurementsPinned === false) {
    lines.push('!!! MEASUREMENTS NOT PINNED: this proves only that SOME genuine enclave answered, not which code it runs;');
    lines.push('!!! pin PCR0-2 with --measurements FILE (nitro-cli build-enclave / describe-eif JSON) or --pcr N=HEX');
  } else if (extra.measurementsPinned === true) {
    lines.push('measurements: pinned (the enclave matches the expected PCRs)');
  }
  if (extra.endpoint !== undefined) lines.push(`endpoint:    ${extra.endpoint}`);
  lines.push(`module:      ${document.moduleId}`);
  lines.push(`time:        ${new Date(document.timestamp).toISOString()}`);
  lines.push(`root:        ${result.anchor === 'aws' ? 'AWS Nitro Enclaves root G1 (pinned by SHA-256 fingerprint)' : 'dev root given on the command line'}`);
  lines.push('chain:');
  for (const der of [...document.cabundle, document.certificate]) {
    const certificate = new X509Certificate(der);
    lines.push(`  - ${certificate.subject.replace(/\n/g, ', ')}  (until ${new Date(certificate.validTo).toISOString()})`);
  }
  lines.push(`debug mode:  ${result.debugMode ? 'YES (PCR0-2 all zero)' : 'no'}`);
  lines.push('pcrs:');
  for (const [index, value] of [...document.pcrs.entries()].sort((a, b) => a[0] - b[0])) {
    const hex = Buffer.from(value).toString('hex');
    if (/^0+$/.test(hex) && index > 2) continue;
    lines.push(`  ${String(index).padStart(2)}: ${hex}`);
  }
  if (result.tlsBindingScheme !== null) {
    const what = result.tlsBindingScheme === 'http-enclave-session-v2' ? "the presented certificate's key and this TLS session" : "the presented certificate's key";
    lines.push(`tls binding: user_data binds ${what} (${result.tlsBindingScheme})`);
    if (extra.tlsFingerprint256 !== undefined) lines.push(`tls cert:    SHA-256 ${extra.tlsFingerprint256}`);
  }
  lines.push('checks:');
  for (const check of result.checks) lines.push(`  ${check.outcome === 'passed' ? 'ok  ' : 'skip'} ${check.name}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The same as a JSON object, for scripts (`--json`). A failed check is
 * `{"verified": false, "code": …, "reason": …, "message": …}` (cli.ts).
 */
export function verificationReportJson(
  result: Verified,
  extra: { readonly endpoint?: string; readonly tlsFingerprint256?: string; readonly measurementsPinned?: boolean } = {},
): string {
  const { document } = result;
  const pcrs: Record<string, string> = {};
  for (const [index, value] of [...document.pcrs.entries()].sort((a, b) => a[0] - b[0])) pcrs[String(index)] = Buffer.from(value).toString('hex');
  return `${JSON.stringify({
    verified: true,
    anchor: result.anchor,
    ...(extra.endpoint === undefined ? {} : { endpoint: extra.endpoint }),
    ...(extra.measurementsPinned === undefined ? {} : { measurementsPinned: extra.measurementsPinned }),
    moduleId: document.moduleId,
    timestamp: new Date(document.timestamp).toISOString(),
    debugMode: result.debugMode,
    pcrs,
    chain: [...document.cabundle, document.certificate].map((der) => new X509Certificate(der).subject.replace(/\n/g, ', ')),
    tlsBindingScheme: result.tlsBindingScheme,
    ...(extra.tlsFingerprint256 === undefined ? {} : { tlsCertificateSha256: extra.tlsFingerprint256 }),
    checks: result.checks.map((check) => ({ name: check.name, outcome: check.outcome })),
  }, null, 2)}\n`;
}
