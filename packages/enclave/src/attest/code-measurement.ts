// The dev provider's stand-in for Nitro's boot measurements (PCRs).
//
// On Nitro, PCR0 is the SHA-384 measurement of the whole enclave image file:
// it changes whenever any byte of the code changes, and that is what a client
// pins. The dev provider measures every file the enclave can load instead:
// its own package and the closure of its runtime dependencies (our
// workspace packages, the vsock addon's compiled .node file, third-party
// packages such as @smithy/signature-v4), package.json files included.
//
//   measureCodeDirectory(dir) = SHA-384(
//       "http-enclave/code-measurement/v2\0"
//       || for each file under dir whose name ends in .js .mjs .cjs .json
//          or .node, outside node_modules/ folders, sorted by its relative
//          path ('/'-separated, compared as UTF-8 bytes):
//            u32be(len(path)) || path || u64be(len(content)) || content )
//
//   measurePackages(list) = SHA-384(
//       "http-enclave/package-closure/v1\0"
//       || for each package, sorted by name (UTF-8 bytes):
//            u32be(len(name)) || name || measureCodeDirectory(package dir) )
//
// Length prefixes make the encodings unambiguous. A symbolic link (or any
// file that is neither a regular file nor a directory) inside a measured
// package is refused (CodeMeasurementError): the loader would follow it to
// code the measurement never saw. Packages themselves are found as Node
// finds them (node_modules/NAME up the tree, workspace links resolved to
// their real directory). So, in dev documents:
//
//   PCR0 = measurePackages(the enclave package and its whole dependency
//          closure) — changes when any loadable file changes, as PCR0 does
//          on Nitro;
//   PCR1 = SHA-384("http-enclave/dev-pcr1/v1:node <version> <platform>-<arch>")
//          — the runtime, standing in for Nitro's kernel + bootstrap;
//   PCR2 = measurePackages(the closure without the enclave package) — the
//          libraries alone, standing in for the application ramfs.
//
// Computed once at start-up (tens of ms: @smithy/core is most of the bytes).

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodeMeasurementError } from '../enclave-errors.js';

const MEASUREMENT_DOMAIN = 'http-enclave/code-measurement/v2\0';
const CLOSURE_DOMAIN = 'http-enclave/package-closure/v1\0';
const PCR1_DOMAIN = 'http-enclave/dev-pcr1/v1:';
const MEASURED_FILE = /\.(?:js|mjs|cjs|json|node)$/;

function listFiles(root: string, relative: string, accept: (path: string) => boolean, out: string[]): void {
  const directory = relative === '' ? root : join(root, relative);
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') listFiles(root, path, accept, out); // nested packages are measured as packages
    } else if (entry.isFile()) {
      if (accept(path)) out.push(path);
    } else {
      throw new CodeMeasurementError(`refusing to measure ${root}: ${path} is a symbolic link or a special file, which the loader could follow to unmeasured code`);
    }
  }
}

/** SHA-384 measurement of the loadable files under `root` (format in the header comment). */
export function measureCodeDirectory(root: string, accept: (path: string) => boolean = (path) => MEASURED_FILE.test(path)): Buffer {
  const paths: string[] = [];
  listFiles(root, '', accept, paths);
  paths.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const hash = createHash('sha384').update(MEASUREMENT_DOMAIN, 'utf8');
  for (const path of paths) {
    const pathBytes = Buffer.from(path, 'utf8');
    const content = readFileSync(join(root, path));
    const pathLength = Buffer.alloc(4);
    pathLength.writeUInt32BE(pathBytes.length);
    const contentLength = Buffer.alloc(8);
    contentLength.writeBigUInt64BE(BigInt(content.length));
    hash.update(pathLength).update(pathBytes).update(contentLength).update(content);
  }
  return hash.digest();
}

export interface MeasuredPackage {
  readonly name: string;
  /** The package's real directory (links resolved). */
  readonly directory: string;
}

/** Where Node would find `name` from `fromDirectory`: node_modules/NAME in it or an ancestor. */
function findPackage(fromDirectory: string, name: string): string {
  for (let current = fromDirectory; ; current = dirname(current)) {
    const candidate = join(current, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(current) === current) throw new CodeMeasurementError(`cannot find the dependency ${name} from ${fromDirectory}`);
  }
}

/** The package at `directory` and every runtime dependency it reaches, each once. */
export function packageClosure(directory: string): MeasuredPackage[] {
  const found = new Map<string, string>();
  const visit = (packageDirectory: string): void => {
    if (lstatSync(join(packageDirectory, 'package.json')).isSymbolicLink()) {
      throw new CodeMeasurementError(`refusing to measure ${packageDirectory}: its package.json is a symbolic link`);
    }
    const manifest = JSON.parse(readFileSync(join(packageDirectory, 'package.json'), 'utf8')) as { name?: unknown; dependencies?: Record<string, string> };
    const name = typeof manifest.name === 'string' ? manifest.name : packageDirectory;
    if (found.has(name)) return;
    found.set(name, packageDirectory);
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(findPackage(packageDirectory, dependency));
  };
  visit(realpathSync(directory));
  return [...found].map(([name, packageDirectory]) => ({ name, directory: packageDirectory }));
}

/** SHA-384 over the packages' measurements, in name order (format in the header comment). */
export function measurePackages(packages: readonly MeasuredPackage[]): Buffer {
  const sorted = [...packages].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
  const hash = createHash('sha384').update(CLOSURE_DOMAIN, 'utf8');
  for (const { name, directory } of sorted) {
    const nameBytes = Buffer.from(name, 'utf8');
    const nameLength = Buffer.alloc(4);
    nameLength.writeUInt32BE(nameBytes.length);
    hash.update(nameLength).update(nameBytes).update(measureCodeDirectory(directory));
  }
  return hash.digest();
}

export interface DevMeasurements {
  readonly pcr0: Buffer;
  readonly pcr1: Buffer;
  readonly pcr2: Buffer;
}

/** PCR0..2 of this running enclave (see the header comment). */
export function measureRunningEnclave(): DevMeasurements {
  const enclavePackage = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const closure = packageClosure(enclavePackage);
  return {
    pcr0: measurePackages(closure),
    pcr1: createHash('sha384').update(`${PCR1_DOMAIN}node ${process.version} ${process.platform}-${process.arch}`, 'utf8').digest(),
    pcr2: measurePackages(closure.filter((entry) => entry.name !== '@http-enclave/enclave')),
  };
}
