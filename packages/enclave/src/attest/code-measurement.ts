// The dev provider's stand-in for Nitro's boot measurements (PCRs).
//
// On Nitro, PCR0 is the SHA-384 measurement of the whole enclave image file:
// it changes whenever any byte of the code changes, and that is what a client
// pins. The dev provider measures the code it actually runs instead:
//
//   measureCodeDirectory(dir) = SHA-384(
//       "http-enclave/code-measurement/v1\0"
//       || for each *.js file under dir, sorted by its relative path
//          ('/'-separated, compared as UTF-8 bytes):
//            u32be(len(path)) || path || u64be(len(content)) || content )
//
// Length prefixes make the encoding unambiguous (no two file sets hash the
// same input). Symbolic links are not followed. So, in dev documents:
//
//   PCR0 = measureCodeDirectory(packages/enclave/dist)  — the enclave's code:
//          it changes when the code changes, as PCR0 does on Nitro;
//   PCR1 = SHA-384("http-enclave/dev-pcr1/v1:node <version> <platform>-<arch>")
//          — the runtime, standing in for Nitro's kernel + bootstrap;
//   PCR2 = SHA-384(measure(protocol dist) || measure(transport dist)) — the
//          workspace libraries the enclave runs, standing in for the
//          application ramfs.
//
// Computed once at start-up (a few ms for the current tree).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MEASUREMENT_DOMAIN = 'http-enclave/code-measurement/v1\0';
const PCR1_DOMAIN = 'http-enclave/dev-pcr1/v1:';

function listFiles(root: string, relative: string, accept: (path: string) => boolean, out: string[]): void {
  const directory = relative === '' ? root : join(root, relative);
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) listFiles(root, path, accept, out);
    else if (entry.isFile() && accept(path)) out.push(path);
    // Symbolic links and special files are skipped: only real files are measured.
  }
}

/** SHA-384 measurement of the *.js files under `root` (format in the header comment). */
export function measureCodeDirectory(root: string, accept: (path: string) => boolean = (path) => path.endsWith('.js')): Buffer {
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

export interface DevMeasurements {
  readonly pcr0: Buffer;
  readonly pcr1: Buffer;
  readonly pcr2: Buffer;
}

/** The directory holding a package's compiled entry point (its dist/). */
function packageDistDirectory(specifier: string): string {
  return dirname(fileURLToPath(import.meta.resolve(specifier)));
}

/** PCR0..2 of this running enclave (see the header comment). */
export function measureRunningEnclave(): DevMeasurements {
  const enclaveDist = join(dirname(fileURLToPath(import.meta.url)), '..');
  const libraries = ['@http-enclave/protocol', '@http-enclave/transport'].map((name) => measureCodeDirectory(packageDistDirectory(name)));
  return {
    pcr0: measureCodeDirectory(enclaveDist),
    pcr1: createHash('sha384').update(`${PCR1_DOMAIN}node ${process.version} ${process.platform}-${process.arch}`, 'utf8').digest(),
    pcr2: createHash('sha384').update(Buffer.concat(libraries)).digest(),
  };
}
