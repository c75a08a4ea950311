// The value parsers that configuration schemas are built from. One rule for
// both programs: a value is taken exactly as written (no trimming, no case
// folding); choices are the documented lower-case words; integers are plain
// decimal without sign, leading zeros or exponent, within inclusive bounds.

import type { ParseResult, ValueParser } from './config-schema.js';

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const problem = (text: string): ParseResult<never> => ({ ok: false, problem: text });

/** Decimal integer in min..max (inclusive). */
export function integer(min: number, max: number): ValueParser<number> {
  return (text) => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return problem(`must be a decimal integer in ${min}..${max}`);
    const value = Number(text);
    if (value < min || value > max) return problem(`must be in ${min}..${max}`);
    return ok(value);
  };
}

/** One of the listed words, exactly. */
export function oneOf<const T extends string>(choices: readonly T[]): ValueParser<T> {
  return (text) => ((choices as readonly string[]).includes(text) ? ok(text as T) : problem(`must be one of ${choices.join(', ')}`));
}

/** `true` or `false`, exactly. */
export function boolean(): ValueParser<boolean> {
  const choice = oneOf(['true', 'false']);
  return (text) => {
    const result = choice(text);
    return result.ok ? ok(result.value === 'true') : result;
  };
}

/** Any text without a NUL byte (file paths, identifiers checked elsewhere). */
export function text(): ValueParser<string> {
  return (value) => (value.includes('\0') ? problem('contains a NUL byte') : ok(value));
}

/** Text matching `pattern`; `expected` says what it must be. */
export function matching(pattern: RegExp, expected: string): ValueParser<string> {
  return (value) => (pattern.test(value) ? ok(value) : problem(expected));
}

/**
 * A parser from a function that throws on bad input (an address parser of
 * another package): the thrown message becomes the problem. Only errors of
 * `errorClass` (default: any Error) are problems; anything else is a bug and
 * is thrown on.
 */
export function fromThrowing<T>(parse: (text: string) => T, errorClass: abstract new (...args: never[]) => Error = Error): ValueParser<T> {
  return (value) => {
    try {
      return ok(parse(value));
    } catch (error) {
      if (error instanceof errorClass) return problem(error.message);
      throw error;
    }
  };
}

/** `off` (exactly) turns the feature off (undefined); anything else goes to `parse`. */
export function offOr<T>(parse: ValueParser<T>): ValueParser<T | undefined> {
  return (value) => (value === 'off' ? ok(undefined) : parse(value));
}

/** `parse`, then `check` on the value: a string is a problem. */
export function refine<T>(parse: ValueParser<T>, check: (value: T) => string | undefined): ValueParser<T> {
  return (value) => {
    const result = parse(value);
    if (!result.ok) return result;
    const refused = check(result.value);
    return refused === undefined ? result : problem(refused);
  };
}
