// Collects the problems of one configuration load, each as `NAME: problem`,
// so that every bad variable is reported at once; then throws them together
// as one ConfigInvalidError. Problems are made single-line here: a value may
// end up in them, and stderr gets one line per message.

import { ConfigInvalidError, type ConfigProblem } from './config-error.js';

/** Control characters become `?`: a problem is one line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

export class ConfigProblems {
  readonly #problems: ConfigProblem[] = [];

  add(variable: string, problem: string): void {
    this.#problems.push({ variable, problem: oneLine(problem) });
  }

  /** True when any of `variables` already has a problem (cross-variable rules then stay quiet). */
  has(...variables: readonly string[]): boolean {
    return this.#problems.some((p) => variables.includes(p.variable));
  }

  get list(): readonly ConfigProblem[] {
    return this.#problems;
  }

  /** Throws every problem at once as CONFIG_INVALID. */
  throwIfAny(): void {
    if (this.#problems.length > 0) throw new ConfigInvalidError(this.#problems);
  }
}
