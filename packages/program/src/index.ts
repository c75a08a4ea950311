// What both programs (enclave and host) share to run as a process: coded
// errors, the configuration error, the configuration schema machinery (one
// declaration per variable: parser, bounds, default, meaning, docs), the
// process runner and the stdout that survives a broken pipe. Imports nothing
// of ours, and nothing from npm: it is inside the measured enclave image.
export { CodedError, type CodedErrorClass } from './coded-error.js';
export { ConfigInvalidError, type ConfigProblem } from './config-error.js';
export {
  defineSchema,
  documentedDefault,
  schemaVariables,
  type ConfigSchema,
  type ConfigVariable,
  type ParseResult,
  type SchemaSpec,
  type ValueOf,
  type ValueParser,
  type VariableSpec,
} from './config-schema.js';
export { boolean, fromThrowing, integer, matching, offOr, oneOf, refine, text } from './config-parsers.js';
export { ConfigProblems } from './config-problems.js';
export { ConfigReader, emptyValueProblem, findUnknownVariables, type EnvironmentRules } from './config-reader.js';
export { regionMarkers, renderConfigTable, renderEnvDefaults, renderEnvExample, replaceMarkedRegion, type MarkerStyle } from './config-docs.js';
export { EXIT_CONFIG, EXIT_FAILURE, runProgram, type ProgramControl, type ProgramDefinition, type ProgramSession, type Stoppable } from './run-program.js';
export { writeStdout } from './stdout.js';
