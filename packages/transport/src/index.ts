export * from './transport-errors.js';
export * from './listen-on.js';
export * from './connect-to.js';
