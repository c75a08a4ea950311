// The trust boundary is the import graph (DESIGN.md, "Trust domains").
// `npm run lint:boundary` fails when a rule below is broken; CI runs it.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'host-cannot-import-enclave',
      comment: 'The host is run by the operator: it must not contain enclave code or key handling.',
      severity: 'error',
      from: { path: '^packages/host/' },
      to: { path: ['^packages/enclave/', '(^|/)keys/', '(^|/)seal/', '@http-enclave/enclave'] },
    },
    {
      name: 'enclave-cannot-import-host',
      comment: 'The enclave treats the host as hostile; it talks to it only through protocol frames.',
      severity: 'error',
      from: { path: '^packages/enclave/' },
      to: { path: ['^packages/host/', '@http-enclave/host'] },
    },
    {
      name: 'protocol-imports-nothing-of-ours',
      comment: 'Wire formats shared by both sides depend on no other package of ours.',
      severity: 'error',
      from: { path: '^packages/protocol/' },
      to: { path: ['^packages/(?!protocol/)', '@http-enclave/(?!protocol)'] },
    },
    {
      name: 'program-imports-nothing-of-ours',
      comment: 'What both programs share to run (coded errors, config, runProgram) is inside the enclave image: it depends on no other package of ours and on nothing from npm.',
      severity: 'error',
      from: { path: '^packages/program/' },
      to: { path: ['^packages/(?!program/)', '@http-enclave/(?!program)'] },
    },
    {
      name: 'attestation-imports-nothing-of-ours',
      comment: 'The attestation verifier is used by any client: it depends on no other package of ours (and on no runtime npm package).',
      severity: 'error',
      from: { path: '^packages/attestation/' },
      to: { path: ['^packages/(?!attestation/)', '@http-enclave/(?!attestation)'] },
    },
    {
      name: 'transport-imports-only-protocol',
      comment: 'The transport seam is shared by host and enclave; it must not pull either in.',
      severity: 'error',
      from: { path: '^packages/transport/' },
      to: { path: ['^packages/(enclave|host)/', '@http-enclave/(enclave|host)'] },
    },
    {
      name: 'vsock-imports-nothing-of-ours',
      comment: 'The native addon package is audited on its own: it depends on no other package of ours.',
      severity: 'error',
      from: { path: '^packages/vsock/' },
      to: { path: ['^packages/(?!vsock/)', '@http-enclave/(?!vsock)'] },
    },
    {
      name: 'kms-double-is-test-code',
      comment: 'The KMS double is test code: no product package may import it (it must never reach the enclave image or the host).',
      severity: 'error',
      from: { path: '^packages/(?!kms-double/)' },
      to: { path: ['^packages/kms-double/', '@http-enclave/kms-double'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'], conditionNames: ['import', 'types', 'default'] },
  },
};
