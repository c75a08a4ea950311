// Stages exactly the files the enclave image runs, for deploy/enclave.Dockerfile.
//
//   node deploy/stage-enclave.mjs OUT_DIR        (after `npm ci` and `npm run build`)
//
// Everything in OUT_DIR ends up in the enclave image file, so in PCR0 and
// PCR2: nothing may depend on the machine or the moment of the build, and
// nothing may be there that the enclave does not run. So:
//
// - The packages are the production dependency closure of
//   @http-enclave/enclave, read from the package.json files
//   (`dependencies` and `optionalDependencies`, resolved the way Node
//   resolves them): protocol, transport, vsock (with its compiled addon) and
//   attestation (whose strict CBOR decoder the enclave uses), as the
//   package.json files say at build time. Host, client, tests and every
//   devDependency stay out.
// - Of a workspace package only package.json, dist/ and a compiled addon
//   (build/Release/*.node; a package with a binding.gyp and no .node is an
//   error, never an image without its addon) are kept; of dist/ only what runs: no tests
//   (*.test.js), no test support (file names with a `test` word, e.g.
//   cbor-test-decoder.js), no source maps, declarations or .tsbuildinfo.
//   A third-party package (@smithy/signature-v4 and its closure) is copied whole.
// - Layout as in the repository: packages/NAME/... and
//   node_modules/@scope/NAME -> ../../packages/NAME (relative symlinks), so
//   `node packages/enclave/dist/main.js` resolves as it does in a checkout.
// - Every file 0644, every directory 0755, every mtime (symlinks too) set to
//   SOURCE_DATE_EPOCH (0 when unset).
// - Then every relative import of every staged .js file must resolve to a
//   staged file (a test file wrongly dropped, or a missing one, fails here
//   rather than at enclave start-up), and a sorted `sha256  path` list of
//   the staged files is printed: two builds that print the same list staged
//   the same bytes.
//
// Node built-ins only: it runs in the build stage before anything is pruned.

import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync,
  realpathSync, rmSync, symlinkSync, utimesSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = '@http-enclave/enclave';

const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: node deploy/stage-enclave.mjs OUT_DIR\n');
  process.exit(2);
}
const OUT = resolve(out);
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? '0');
if (!Number.isInteger(epoch) || epoch < 0) {
  process.stderr.write(`stage-enclave: SOURCE_DATE_EPOCH must be a whole number of seconds, got ${process.env.SOURCE_DATE_EPOCH}\n`);
  process.exit(2);
}

/** A dist/ file the enclave runs (see the header). */
function isRuntimeFile(name) {
  if (!name.endsWith('.js') && !name.endsWith('.json')) return false; // .map, .d.ts, .tsbuildinfo, …
  return !/(^|[.-])(test|tests|spec)([.-]|$)/.test(name); // x.test.js, cbor-test-decoder.js, test-support.js
}

/** Directory of package `name` as Node resolves it from `fromDir` (realpath), or undefined. */
function resolvePackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dir === dirname(dir)) return undefined;
  }
}

// 1. The production dependency closure of the enclave.
const packages = new Map(); // realpath -> name
const pending = [[ENTRY, resolvePackage(ENTRY, ROOT), false]];
while (pending.length > 0) {
  const [name, dir, optional] = pending.pop();
  if (dir === undefined) {
    if (optional) continue; // an optional dependency not installed on this platform
    throw new Error(`stage-enclave: cannot resolve ${name}; run npm ci and npm run build first`);
  }
  if (packages.has(dir)) continue;
  packages.set(dir, name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies ?? {})) pending.push([dep, resolvePackage(dep, dir), false]);
  for (const dep of Object.keys(manifest.optionalDependencies ?? {})) pending.push([dep, resolvePackage(dep, dir), true]);
}

// 2. Copy.
rmSync(OUT, { recursive: true, force: true });
const staged = []; // relative paths of staged files

function copyFile(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  staged.push(relative(OUT, to).split(sep).join('/'));
}

function copyTree(from, to, accept) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) copyTree(source, join(to, entry.name), accept);
    else if (entry.isFile() && accept(entry.name)) copyFile(source, join(to, entry.name));
    // Symbolic links and special files inside a package are not staged.
  }
}

const packagesDir = join(ROOT, 'packages') + sep;
for (const [dir, name] of packages) {
  const rel = relative(ROOT, dir);
  if (dir.startsWith(packagesDir)) {
    const target = join(OUT, rel);
    copyFile(join(dir, 'package.json'), join(target, 'package.json'));
    if (!existsSync(join(dir, 'dist'))) throw new Error(`stage-enclave: ${rel}/dist is missing; run npm run build first`);
    copyTree(join(dir, 'dist'), join(target, 'dist'), isRuntimeFile);
    const release = join(dir, 'build', 'Release');
    const addons = existsSync(release) ? readdirSync(release).filter((file) => file.endsWith('.node')) : [];
    // An addon that did not build installs as "absent" (see packages/vsock/scripts/install.mjs);
    // an enclave image without it could not listen on vsock: refuse to stage it.
    if (existsSync(join(dir, 'binding.gyp')) && addons.length === 0) {
      throw new Error(`stage-enclave: ${rel} has a binding.gyp but no build/Release/*.node; the native addon did not build`);
    }
    for (const file of addons) copyFile(join(release, file), join(target, 'build', 'Release', file));
    const link = join(OUT, 'node_modules', ...name.split('/'));
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), target), link);
  } else {
    copyTree(dir, join(OUT, rel), () => true);
  }
}

// 3. Every relative import of a staged .js file of ours resolves to a staged
// file. (A third-party package is copied whole; its own files, such as an
// ESM build Node never loads, follow its package.json, not this check.)
const stagedSet = new Set(staged);
const missing = [];
for (const file of staged.filter((f) => f.endsWith('.js') && f.startsWith('packages/'))) {
  const text = readFileSync(join(OUT, file), 'utf8');
  for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = join(dirname(file), match[1]).split(sep).join('/');
    if (!stagedSet.has(target)) missing.push(`${file} imports ${match[1]}`);
  }
}
if (missing.length > 0) throw new Error(`stage-enclave: imports of files not staged:\n  ${missing.join('\n  ')}`);

// 4. Modes and times, deepest first so a directory's time is set after its entries.
function normalize(path) {
  const stat = lstatSync(path);
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path)) normalize(join(path, entry));
    chmodSync(path, 0o755);
    utimesSync(path, epoch, epoch);
  } else if (stat.isSymbolicLink()) {
    lutimesSync(path, epoch, epoch);
  } else {
    chmodSync(path, 0o644);
    utimesSync(path, epoch, epoch);
  }
}
normalize(OUT);

// 5. The manifest of what was staged.
for (const file of staged.sort()) {
  const digest = createHash('sha256').update(readFileSync(join(OUT, file))).digest('hex');
  process.stdout.write(`${digest}  ${file}\n`);
}
process.stderr.write(`stage-enclave: ${staged.length} files of ${packages.size} packages (${[...packages.values()].sort().join(', ')}) in ${OUT}\n`);
