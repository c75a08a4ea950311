// What both programs (enclave and host) share to run as a process: coded
// errors and the configuration error. Imports nothing of ours, and nothing
// from npm: it is inside the measured enclave image.
export { CodedError, type CodedErrorClass } from './coded-error.js';
export { ConfigInvalidError, type ConfigProblem } from './config-error.js';
