// CONFIG_INVALID: one or more environment variables are wrong. Both programs
// report every problem at once, each as `NAME: problem`, and exit 78
// (sysexits.h EX_CONFIG). Problems name the variable and what it must be;
// they never repeat a secret value.

import { CodedError } from './coded-error.js';

export interface ConfigProblem {
  readonly variable: string;
  readonly problem: string;
  /** Other variables the problem is about (a key that does not match its certificate names both). */
  readonly related?: readonly string[];
}

export class ConfigInvalidError extends CodedError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[] = [], options?: ErrorOptions) {
    super('CONFIG_INVALID', 500, 'config', problems.map((p) => `${p.variable}: ${p.problem}`).join('; '), options);
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }

  /** The variables named (with their related ones), in order, each once. */
  get variables(): readonly string[] {
    return [...new Set(this.problems.flatMap((p) => [p.variable, ...(p.related ?? [])]))];
  }
}
