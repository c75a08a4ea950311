// The shape of a program's configuration schema: every environment variable
// declared once, with its default, its parser (bounds included) and its
// meaning. The loader (config-reader.ts) and the documentation
// (config-docs.ts) both read these declarations, so they cannot disagree.

/** The outcome of parsing one value: the value, or a problem phrased to follow `NAME: `. */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/** Parses the text of one variable (never empty: the reader refuses empty values first). */
export type ValueParser<T> = (text: string) => ParseResult<T>;

/** One variable as declared in a schema (the name is the schema's key). */
export interface VariableSpec<T> {
  /** The value used when the variable is unset, written as a user would write it; absent: no fixed default (the loader decides). */
  readonly default?: string;
  /** The default as the documentation shows it when it is not `default` itself: derived (`tcp://127.0.0.1:${ENCLAVE_PORT}`) or conditional (`(required with KEY_SOURCE=env)`). */
  readonly shownDefault?: string;
  /** What the variable means: one markdown paragraph (README table; env.example without backticks). */
  readonly meaning: string;
  readonly parse: ValueParser<T>;
  /** env.example: the value shown when it is not the default (a placeholder). */
  readonly example?: string;
  /** env.example: the line is active (`NAME=`) instead of commented (`# NAME=…`). */
  readonly exampleActive?: boolean;
}

/** A declared variable with its name. */
export interface ConfigVariable<T> extends VariableSpec<T> {
  readonly name: string;
}

export type SchemaSpec = Readonly<Record<string, VariableSpec<unknown>>>;

/** A schema: each declared variable under its own name, in declaration order (the order of the documentation). */
export type ConfigSchema<S extends SchemaSpec> = { readonly [K in keyof S & string]: S[K] & { readonly name: K } };

/** The parsed type of a declared variable. */
export type ValueOf<V> = V extends VariableSpec<infer T> ? T : never;

/** Names each variable after its key and freezes the whole. */
export function defineSchema<S extends SchemaSpec>(spec: S): ConfigSchema<S> {
  const entries = Object.entries(spec).map(([name, variable]) => [name, Object.freeze({ name, ...variable })] as const);
  return Object.freeze(Object.fromEntries(entries)) as ConfigSchema<S>;
}

/** The variables of a schema, in declaration order. */
export function schemaVariables(schema: Readonly<Record<string, ConfigVariable<unknown>>>): readonly ConfigVariable<unknown>[] {
  return Object.freeze(Object.values(schema));
}

/** The default as documented: `shownDefault`, else `default`, else undefined (none). */
export function documentedDefault(variable: VariableSpec<unknown>): string | undefined {
  return variable.shownDefault ?? variable.default;
}
