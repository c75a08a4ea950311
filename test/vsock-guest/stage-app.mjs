// Copies what the guest needs to run the real host, enclave and vsock addon
// into DEST (the initramfs root's /app), with the same layout as the repo so
// that the compiled code resolves its imports exactly as in production:
//   packages/<name>/{package.json,dist,build/Release/*.node}  (runtime files only)
//   node_modules/@http-enclave/<name> -> ../../packages/<name>
//   node_modules/<dep>/...  (the runtime dependency closure, without sources,
//                            tests and build intermediates)
//   test/vsock-guest/guest-tests.mjs
// Runs on the build machine: it only reads and copies files.
//
// Usage: node stage-app.mjs REPO DEST

import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const [repo, dest] = process.argv.slice(2);
if (repo === undefined || dest === undefined) throw new Error('usage: node stage-app.mjs REPO DEST');

/** Workspace packages the guest runs, and whatever they depend on at run time. */
const ROOTS = ['host', 'enclave', 'transport', 'vsock'];
/** Never needed at run time: sources, tests, type declarations, native build intermediates. */
const SKIP_DIR = new Set(['deps', 'test', 'tests', 'docs', 'obj.target', 'obj', '.deps', 'benchmark', 'examples', '.github']);
/** Install-time only (download prebuilt binaries, C++ headers): never loaded at run time. */
const INSTALL_ONLY = new Set(['prebuild-install', 'node-addon-api', 'node-gyp']);
const SKIP_FILE = [/^test_extension\.node$/, /\.test\.js$/, /\.d\.ts$/, /\.map$/, /\.tsbuildinfo$/, /\.md$/i, /\.(c|cc|cpp|h|hpp|gyp|gypi)$/, /^Makefile$/, /\.mk$/, /\.Makefile$/, /\.a$/];

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const keep = (path) => {
  const name = basename(path);
  if (statSync(path).isDirectory()) return !SKIP_DIR.has(name);
  return !SKIP_FILE.some((re) => re.test(name));
};
const copyTree = (from, to) => cpSync(from, to, { recursive: true, dereference: true, filter: keep });

const workspaces = new Map(
  readdirSync(join(repo, 'packages'))
    .filter((d) => existsSync(join(repo, 'packages', d, 'package.json')))
    .map((d) => [readJson(join(repo, 'packages', d, 'package.json')).name, d]),
);

const seenWorkspace = new Set();
const seenModule = new Set();
let missing = 0;

function addDependencies(pkgJson) {
  for (const dep of Object.keys(pkgJson.dependencies ?? {})) {
    if (workspaces.has(dep)) addWorkspace(workspaces.get(dep));
    else if (!INSTALL_ONLY.has(dep)) addModule(dep);
  }
}

function addWorkspace(dir) {
  if (seenWorkspace.has(dir)) return;
  seenWorkspace.add(dir);
  const from = join(repo, 'packages', dir);
  const to = join(dest, 'packages', dir);
  if (!existsSync(join(from, 'package.json'))) {
    process.stderr.write(`stage-app: packages/${dir} is absent\n`);
    missing++;
    return;
  }
  const pkgJson = readJson(join(from, 'package.json'));
  mkdirSync(to, { recursive: true });
  cpSync(join(from, 'package.json'), join(to, 'package.json'));
  if (existsSync(join(from, 'dist'))) copyTree(join(from, 'dist'), join(to, 'dist'));
  else {
    process.stderr.write(`stage-app: packages/${dir}/dist is absent (run npm run build)\n`);
    missing++;
  }
  // A native addon: only the compiled module itself.
  const release = join(from, 'build', 'Release');
  if (existsSync(release)) {
    mkdirSync(join(to, 'build', 'Release'), { recursive: true });
    for (const f of readdirSync(release)) if (f.endsWith('.node')) cpSync(join(release, f), join(to, 'build', 'Release', f));
  }
  const link = join(dest, 'node_modules', pkgJson.name);
  mkdirSync(join(link, '..'), { recursive: true });
  if (!existsSync(link)) symlinkSync(relative(join(link, '..'), to), link);
  addDependencies(pkgJson);
}

function addModule(name) {
  if (seenModule.has(name)) return;
  seenModule.add(name);
  const from = join(repo, 'node_modules', name);
  if (!existsSync(join(from, 'package.json'))) {
    process.stderr.write(`stage-app: node_modules/${name} is absent (run npm ci)\n`);
    missing++;
    return;
  }
  copyTree(from, join(dest, 'node_modules', name));
  addDependencies(readJson(join(from, 'package.json')));
}

for (const root of ROOTS) addWorkspace(root);
const guestDir = join(dest, 'test', 'vsock-guest');
mkdirSync(guestDir, { recursive: true });
cpSync(join(repo, 'test', 'vsock-guest', 'guest-tests.mjs'), join(guestDir, 'guest-tests.mjs'));
process.stdout.write(`stage-app: ${seenWorkspace.size} workspace packages, ${seenModule.size} node_modules packages${missing ? `, ${missing} missing` : ''}\n`);
// A missing piece is reported inside the guest (the test that needs it fails), so the run still tells what works.
