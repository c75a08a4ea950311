// No debugger in production (issue 9, finding 3). A debugger attached to the
// enclave reads every key and every request body. On Node 20 the inspector
// can be opened by flags (`--inspect*` on the command line or in
// NODE_OPTIONS) and by SIGUSR1 before main.ts installs its handler. This
// guard runs first in main.ts, before the configuration (and any key) is
// read: in production mode any of these stops the process; in development
// each is logged.
//
// SIGUSR1 during the first milliseconds of start-up, before any of our code
// runs, can only be closed by Node itself: Node 22.14+/24 ignores it with
// `--disable-sigusr1` on the command line. On such a Node a start without the
// flag is one more exposure (refused in production). Node 20 has no such
// flag: there the window stays open, and production start-up says so
// (`earlySignalWindow`; the image moves to Node 24 in issue 11).

import { url as inspectorUrl } from 'node:inspector';

/** Command-line flags that open a debugger or load code before ours. */
const REFUSED_FLAGS = /^--(inspect|inspect-brk|inspect-port|inspect-wait|debug|debug-brk|require|import|loader|experimental-loader)(=|$)|^-r$/;

/** Problems found; empty when the process is clean. */
export function findDebuggerExposure(env: NodeJS.ProcessEnv, execArgv: readonly string[] = process.execArgv): string[] {
  const problems: string[] = [];
  if ((env['NODE_OPTIONS'] ?? '').trim() !== '') {
    problems.push('NODE_OPTIONS is set (it can open the inspector or load code before the enclave\'s); the image never sets it');
  }
  const flags = execArgv.filter((flag) => REFUSED_FLAGS.test(flag));
  if (flags.length > 0) problems.push(`node was started with ${flags.map((flag) => flag.split('=')[0]).join(', ')}`);
  if (inspectorUrl() !== undefined) problems.push('the inspector is open (a debugger could read every key and body)');
  if (canDisableSigusr1() && !execArgv.includes('--disable-sigusr1')) {
    problems.push('node was started without --disable-sigusr1 (a SIGUSR1 in the first milliseconds would open the inspector)');
  }
  return problems;
}

/** True on a Node that can ignore SIGUSR1 from its first instruction (22.14+, 24). */
export function canDisableSigusr1(): boolean {
  return process.allowedNodeEnvironmentFlags.has('--disable-sigusr1');
}

/** On a Node without --disable-sigusr1: what stays open, for a start-up warning; undefined otherwise. */
export function earlySignalWindow(): string | undefined {
  if (canDisableSigusr1()) return undefined;
  return `Node ${process.versions.node} has no --disable-sigusr1: a SIGUSR1 in the first milliseconds of start-up, before the enclave's code runs, can open the inspector (Node 22.14+/24 closes it)`;
}
