export * from './transport-errors.js';
export * from './listen-on.js';
export * from './connect-to.js';
/** Whether vsock:// addresses work in this installation (the native addon is built). */
export { isVsockAvailable as isVsockTransportAvailable } from '@http-enclave/vsock';
