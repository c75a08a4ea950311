// runProgram: the process around a program (the enclave, the host). One
// order for both:
// 1. a no-op SIGUSR1 handler, first thing (Node 20 opens the inspector on
//    SIGUSR1 unless a handler exists);
// 2. `preflight` (checks before any configuration is read): any line it
//    returns stops the process with exit 78;
// 3. `loadConfig`: an error whose `code` is CONFIG_INVALID exits 78 with the
//    lines of `describeConfigError`;
// 4. `setUp(config)`: logger, telemetry and the like; then the SIGTERM and
//    SIGINT handlers, before start-up, so that a signal during start-up still
//    drains;
// 5. `start`: CONFIG_INVALID exits 78 as above; any other error exits 1 with
//    the one line of `describeStartupError`.
// The first SIGTERM/SIGINT drains (`close()`, then `afterStop`) and exits 0;
// a second one exits 1 at once. Every stderr line is `NAME: …`.

/** sysexits.h EX_CONFIG: a configuration error. */
export const EXIT_CONFIG = 78;
/** Could not start, or forced to stop. */
export const EXIT_FAILURE = 1;

/** What start() returns: a running program that drains on close(). */
export interface Stoppable {
  close(): Promise<void>;
}

export interface ProgramControl {
  /** `NAME: line` on stderr, then exit (1 by default): for a fatal error once running. */
  fail(line: string, exitCode?: number): never;
}

/** The part of a program that exists once its configuration is loaded. */
export interface ProgramSession<Running extends Stoppable> {
  start(control: ProgramControl): Promise<Running>;
  /** The one line (without the `NAME: ` prefix) that explains a failed start-up. */
  describeStartupError(error: unknown): string;
  /** Logs the start of the drain. */
  onStopSignal?(signal: NodeJS.Signals): void;
  /** Logs the forced exit. */
  onSecondSignal?(signal: NodeJS.Signals): void;
  /** After a drained close(), before exit 0 (last log lines, telemetry flush). */
  afterStop?(): Promise<void>;
}

export interface ProgramDefinition<Config, Running extends Stoppable> {
  /** Prefix of every stderr line: `enclave`, `host`. */
  readonly name: string;
  /** Checks before the configuration is read; each line returned is printed and the process exits 78. */
  preflight?(): readonly string[];
  loadConfig(): Config;
  /** The stderr lines of a CONFIG_INVALID error (without the prefix); default: its message. */
  describeConfigError?(error: Error): readonly string[];
  setUp(config: Config): ProgramSession<Running>;
}

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

function nameOf(error: unknown): string {
  const code = codeOf(error);
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : typeof error;
}

export async function runProgram<Config, Running extends Stoppable>(program: ProgramDefinition<Config, Running>): Promise<void> {
  process.on('SIGUSR1', () => {});

  function exitWith(lines: readonly string[], exitCode: number): never {
    process.stderr.write(lines.map((line) => `${program.name}: ${line}\n`).join(''));
    process.exit(exitCode);
  }
  function exitOnConfigError(error: unknown): void {
    if (codeOf(error) !== 'CONFIG_INVALID') return;
    const lines = error instanceof Error ? (program.describeConfigError?.(error) ?? [error.message]) : ['configuration error'];
    exitWith(lines, EXIT_CONFIG);
  }

  const refusals = program.preflight?.() ?? [];
  if (refusals.length > 0) exitWith(refusals, EXIT_CONFIG);

  let config: Config;
  try {
    config = program.loadConfig();
  } catch (error) {
    exitOnConfigError(error);
    exitWith([`cannot load the configuration: ${nameOf(error)}`], EXIT_FAILURE);
  }

  let session: ProgramSession<Running>;
  try {
    session = program.setUp(config);
  } catch (error) {
    exitOnConfigError(error);
    exitWith([`could not start: ${nameOf(error)}`], EXIT_FAILURE);
  }

  let running: Running | undefined;
  let stopping = false;
  const closeAndExit = (target: Running): void => {
    target
      .close()
      .then(async () => {
        await session.afterStop?.();
        process.exit(0);
      })
      .catch((error: unknown) => exitWith([`could not stop cleanly: ${nameOf(error)}`], EXIT_FAILURE));
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      session.onSecondSignal?.(signal);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    session.onStopSignal?.(signal);
    if (running !== undefined) closeAndExit(running);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const control: ProgramControl = { fail: (line, exitCode = EXIT_FAILURE) => exitWith([line], exitCode) };
  try {
    running = await session.start(control);
  } catch (error) {
    exitOnConfigError(error);
    exitWith([session.describeStartupError(error)], EXIT_FAILURE);
  }
  if (stopping) closeAndExit(running);
}
