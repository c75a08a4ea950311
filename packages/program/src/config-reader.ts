// Reads a program's environment through its schema, with the rules both
// programs share:
// - a value is parsed exactly as written (see config-parsers.ts);
// - an empty (or all-blank) value is an error, never "use the default":
//   `NAME: is empty (unset it to use the default)`;
// - a name with one of the program's own prefixes that the program does not
//   declare is a typo and an error (`NAME: unknown variable …`), unless the
//   other program reads it (one .env feeds both in `npm start`);
// - every problem is `NAME: problem`, collected in ConfigProblems.

import type { ConfigVariable } from './config-schema.js';
import { documentedDefault } from './config-schema.js';
import type { ConfigProblems } from './config-problems.js';

export interface EnvironmentRules {
  /** The program, as named in messages: `enclave`, `host`. */
  readonly program: string;
  /** Prefixes that belong to this program: an undeclared name with one of them is refused. */
  readonly ownPrefixes: readonly string[];
  /** Names with those prefixes that the other program reads: left alone. */
  readonly readElsewhere: readonly string[];
  /** Prefixes, inside ours, of another program's variables (KMS_DOUBLE_ inside KMS_): left alone. */
  readonly foreignPrefixes?: readonly string[];
}

/** What an empty value gets: unset it, and the default (or nothing) applies; a required one needs a value. */
export function emptyValueProblem(variable: ConfigVariable<unknown>): string {
  const shown = documentedDefault(variable);
  if (shown !== undefined && !shown.startsWith('(')) return 'is empty (unset it to use the default)';
  return shown?.startsWith('(required') === true ? 'is empty (it needs a value)' : 'is empty (unset it, or give it a value)';
}

/** Undeclared names with the program's own prefixes, sorted. */
export function findUnknownVariables(env: NodeJS.ProcessEnv, variables: readonly ConfigVariable<unknown>[], rules: EnvironmentRules): string[] {
  const known = new Set([...variables.map((v) => v.name), ...rules.readElsewhere]);
  return Object.keys(env)
    .filter((name) => rules.ownPrefixes.some((prefix) => name.startsWith(prefix)) && !known.has(name))
    .filter((name) => !(rules.foreignPrefixes ?? []).some((prefix) => name.startsWith(prefix)))
    .sort();
}

export class ConfigReader {
  readonly #env: NodeJS.ProcessEnv;
  readonly #variables: readonly ConfigVariable<unknown>[];
  readonly #problems: ConfigProblems;
  readonly #read = new Set<string>();

  /** Reports the unknown names at once; values are checked as they are read, and by finish(). */
  constructor(env: NodeJS.ProcessEnv, variables: readonly ConfigVariable<unknown>[], rules: EnvironmentRules, problems: ConfigProblems) {
    this.#env = env;
    this.#variables = variables;
    this.#problems = problems;
    for (const name of findUnknownVariables(env, variables, rules)) {
      problems.add(name, `unknown variable (the ${rules.program} reads no such variable; README.md, "Configuration", lists them)`);
    }
  }

  /** True when the variable is in the environment (even empty). */
  isSet(variable: ConfigVariable<unknown>): boolean {
    return this.#env[variable.name] !== undefined;
  }

  /** The parsed value; the parsed default when unset; undefined when unset without a default, or on a problem (recorded). */
  read<T>(variable: ConfigVariable<T>): T | undefined {
    this.#read.add(variable.name);
    const raw = this.#env[variable.name];
    if (raw === undefined) return variable.default === undefined ? undefined : parseDefault(variable, variable.default);
    if (raw.trim() === '') {
      this.#problems.add(variable.name, emptyValueProblem(variable));
      return undefined;
    }
    return this.#parse(variable, raw);
  }

  /**
   * The parsed value of a variable with a default; on a problem (recorded)
   * the parsed default, so that the loader can go on and report every
   * problem at once.
   */
  get<T>(variable: ConfigVariable<T>): T {
    const value = this.read(variable);
    if (value !== undefined) return value;
    if (variable.default === undefined) throw new Error(`${variable.name}: get() needs a declared default`);
    return parseDefault(variable, variable.default);
  }

  /** Parses a derived default (built from other variables) with the variable's parser; a problem is recorded under its name. */
  parseAs<T>(variable: ConfigVariable<T>, text: string): T | undefined {
    return this.#parse(variable, text);
  }

  /** Reports the empty values of declared variables that the loader did not read (they would otherwise be ignored in silence). */
  finish(): void {
    for (const variable of this.#variables) {
      if (this.#read.has(variable.name)) continue;
      const raw = this.#env[variable.name];
      if (raw !== undefined && raw.trim() === '') this.#problems.add(variable.name, emptyValueProblem(variable));
    }
  }

  #parse<T>(variable: ConfigVariable<T>, text: string): T | undefined {
    const result = variable.parse(text);
    if (result.ok) return result.value;
    this.#problems.add(variable.name, result.problem);
    return undefined;
  }
}

function parseDefault<T>(variable: ConfigVariable<T>, text: string): T {
  const result = variable.parse(text);
  if (!result.ok) throw new Error(`${variable.name}: the declared default does not parse: ${result.problem}`);
  return result.value;
}
