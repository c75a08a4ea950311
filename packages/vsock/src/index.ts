// @http-enclave/vsock: AF_VSOCK sockets and /dev/nsm for Node, through a small
// N-API addon built from src/vsock.c. Imports nothing else of ours.
export {
  NSM_REQUEST_MAX_BYTES,
  NSM_RESPONSE_MAX_BYTES,
  VMADDR_CID_ANY,
  VsockSystemError,
  VsockUnavailableError,
  getLocalCid,
  getPeerCid,
  isVsockAvailable,
  socketPair,
  vsockAbsenceReason,
} from './native.js';
export { connectVsock, listenVsock, socketFromFd, vsockPeerCid, type ConnectVsockOptions, type SocketFromFdOptions } from './socket.js';
export { NSM_DEVICE_PATH, NsmDevice, NsmDeviceClosedError, isNsmAvailable } from './nsm-device.js';
