// The documentation of a configuration schema: the README's markdown table
// and the blocks of env.example, rendered from the same declarations the
// loader parses with, and the marked regions of those files that
// `npm run docs:config` (scripts/write-config-docs.mjs) rewrites.

import { documentedDefault, type ConfigVariable } from './config-schema.js';

const WRAP_COLUMNS = 100;

/** The README table: Variable, Default (`(unset)` when none), Meaning. */
export function renderConfigTable(variables: readonly ConfigVariable<unknown>[]): string {
  const rows = variables.map((v) => `| \`${v.name}\` | \`${documentedDefault(v) ?? '(unset)'}\` | ${v.meaning.replace(/\|/g, '\\|')} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The value env.example shows: the placeholder, else the default when it is a value (not a note such as `(unset)`). */
function exampleValue(variable: ConfigVariable<unknown>): string {
  if (variable.example !== undefined) return variable.example;
  const shown = documentedDefault(variable);
  return shown === undefined || shown.startsWith('(') ? '' : shown;
}

/** `text` as `# ` comment lines of at most WRAP_COLUMNS characters (longer words stay whole). */
function commentLines(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '#' && line.length + 1 + word.length > WRAP_COLUMNS) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  if (line !== '#') lines.push(line);
  return lines;
}

/** env.example: each variable's meaning as comments (markdown backticks dropped), then `# NAME=default` (or `NAME=` when active). */
export function renderEnvExample(variables: readonly ConfigVariable<unknown>[]): string {
  return variables
    .map((v) => [...commentLines(v.meaning.replace(/`/g, '')), `${v.exampleActive === true ? '' : '# '}${v.name}=${exampleValue(v)}`].join('\n'))
    .join('\n\n');
}

/** A compact block of commented defaults (deploy files): `# NAME=default`, one a line. */
export function renderEnvDefaults(variables: readonly ConfigVariable<unknown>[]): string {
  return variables.map((v) => `# ${v.name}=${exampleValue(v)}`).join('\n');
}

export type MarkerStyle = 'markdown' | 'shell';

/** The two marker lines of a generated region. */
export function regionMarkers(region: string, style: MarkerStyle): { readonly begin: string; readonly end: string } {
  const begin = `BEGIN generated: ${region} (npm run docs:config; edit the schema, not this)`;
  const end = `END generated: ${region}`;
  return style === 'markdown' ? { begin: `<!-- ${begin} -->`, end: `<!-- ${end} -->` } : { begin: `# ${begin}`, end: `# ${end}` };
}

/** `text` with the lines between the markers of `region` replaced by `body`; throws when the markers are missing or repeated. */
export function replaceMarkedRegion(text: string, region: string, style: MarkerStyle, body: string): string {
  const { begin, end } = regionMarkers(region, style);
  const lines = text.split('\n');
  const first = lines.indexOf(begin);
  const last = lines.indexOf(end);
  if (first < 0 || last < first || lines.indexOf(begin, first + 1) >= 0 || lines.indexOf(end, last + 1) >= 0) {
    throw new Error(`region ${region}: expected exactly one "${begin}" line followed by one "${end}" line`);
  }
  return [...lines.slice(0, first + 1), body, ...lines.slice(last)].join('\n');
}
