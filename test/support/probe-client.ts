// A well-behaved client that keeps asking for service while an attack runs:
// one fresh TLS connection and one request (`GET /healthz` by default) every
// `intervalMs`, each with its own timeout. Adversarial cases state where the
// design says service must hold (a share of probes answered 200) and where it
// may not (while a program is stopped), and read the tally here.

import { sendRequest } from './https-request.js';

export interface ProbeTally {
  readonly sent: number;
  readonly ok: number;
  /** Status codes and error messages of the probes that did not get 200, with how many of each. */
  readonly failures: ReadonlyMap<string, number>;
}

export interface Probe {
  /** Counts so far (a snapshot). */
  tally(): ProbeTally;
  /** Starts a fresh tally (for example when a phase of the attack begins). */
  reset(): void;
  /** Stops probing and waits for the probe in flight; returns the final tally. */
  stop(): Promise<ProbeTally>;
}

export interface ProbeOptions {
  readonly path?: string;
  readonly token?: string;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** Source address of the probe's connections (e.g. 127.0.0.2, so that it is another source than an attacker on 127.0.0.1). */
  readonly localAddress?: string;
  /** The port may change (a restarted host): read it before each probe. */
  readonly port: number | (() => number);
}

export function startProbe(options: ProbeOptions): Probe {
  const intervalMs = options.intervalMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 3_000;
  let sent = 0;
  let ok = 0;
  let failures = new Map<string, number>();
  let running = true;
  /** Bumped by reset(): a probe that started before it is not counted after it. */
  let generation = 0;
  const loop = (async () => {
    while (running) {
      const port = typeof options.port === 'function' ? options.port() : options.port;
      const started = Date.now();
      const startedIn = generation;
      sent += 1;
      const count = (answered: boolean, failure: string): void => {
        if (startedIn !== generation) return;
        if (answered) ok += 1;
        else failures.set(failure, (failures.get(failure) ?? 0) + 1);
      };
      try {
        const answer = await sendRequest(port, {
          path: options.path ?? '/healthz',
          timeoutMs,
          ...(options.token === undefined ? {} : { token: options.token }),
          ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        });
        count(answer.status === 200, String(answer.status));
      } catch (error) {
        count(false, error instanceof Error ? error.message : String(error));
      }
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0 && running) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  const snapshot = (): ProbeTally => ({ sent, ok, failures: new Map(failures) });
  return {
    tally: snapshot,
    reset() {
      generation += 1;
      sent = 0;
      ok = 0;
      failures = new Map();
    },
    async stop() {
      running = false;
      await loop;
      return snapshot();
    },
  };
}

/** "17/20 ok; 3× request timed out": for assertion messages. */
export function describeTally(tally: ProbeTally): string {
  const parts = [...tally.failures].map(([what, count]) => `${count}× ${what}`);
  return `${tally.ok}/${tally.sent} ok${parts.length > 0 ? `; ${parts.join(', ')}` : ''}`;
}
