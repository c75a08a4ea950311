// `npm install` hook: build the addon from source with node-gyp, on Linux only.
//
// AF_VSOCK and /dev/nsm are Linux interfaces. Elsewhere nothing is built and
// the package loads as "absent" (src/native.ts): vsock:// addresses then fail
// with TRANSPORT_UNSUPPORTED while tcp:// and unix:// keep working. A failed
// build on Linux (no compiler, no headers) does not fail the whole install
// either: it is reported loudly here and recorded in build/ABSENT, whose text
// native.ts puts in its absence message. No prebuilt binary is ever fetched.

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const absent = join(root, 'build', 'ABSENT');

function recordAbsence(reason) {
  mkdirSync(dirname(absent), { recursive: true });
  writeFileSync(absent, `${reason}\n`);
}

if (process.platform !== 'linux') {
  rmSync(join(root, 'build'), { recursive: true, force: true });
  recordAbsence(`not built: AF_VSOCK needs Linux (this is ${process.platform})`);
  process.exit(0);
}

// npm sets npm_config_node_gyp to its bundled node-gyp during lifecycle scripts.
const gyp = process.env['npm_config_node_gyp'];
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
if (result.status === 0) {
  rmSync(absent, { force: true });
} else {
  const why = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
  recordAbsence(`build failed (node-gyp rebuild: ${why}); rerun \`npm rebuild @http-enclave/vsock\` after installing python3, make and a C compiler`);
  process.stderr.write(`\n@http-enclave/vsock: WARNING: the native addon did not build (${why}); vsock:// and /dev/nsm are unavailable.\n\n`);
}
