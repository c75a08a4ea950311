/*
 * @http-enclave/vsock: the few system calls Node cannot make, and nothing else.
 *
 * Node has no AF_VSOCK sockets and no ioctl(). This addon creates vsock
 * sockets (listen, connect with a timeout), reads their addresses, makes
 * AF_UNIX socket pairs for tests, and performs the Nitro Secure Module ioctl.
 * It never reads or writes socket data: JavaScript wraps the returned file
 * descriptors in Node's own libuv stream handles (src/socket.ts), so every
 * byte moves through Node's native stream and TLS code.
 *
 * All arguments are validated in JavaScript (src/native.ts) before they get
 * here; the checks below only guard against misuse of this file itself.
 * Errors are thrown/rejected as Error objects with `errno` (positive number)
 * and `syscall`; JavaScript turns errno into a code such as ECONNREFUSED.
 *
 * ---------------------------------------------------------------------------
 * The Nitro Secure Module interface (Linux drivers/misc/nsm.c and
 * include/uapi/linux/nsm.h, mainline since 6.8; aws-nitro-enclaves-nsm-api
 * src/driver/mod.rs), in our words:
 *
 *   The device is /dev/nsm. One ioctl does everything:
 *     NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct nsm_raw) = 0xC0200A00 on 64-bit
 *     struct nsm_raw { struct nsm_iovec request, response; }
 *     struct nsm_iovec { __u64 addr; __u64 len; }   (same layout as struct iovec)
 *   The caller points `request` at a CBOR message of at most 4096 bytes
 *   (NSM_REQUEST_MAX_SIZE; more is EMSGSIZE) and `response` at a buffer; the
 *   driver accepts at most 12288 response bytes (NSM_RESPONSE_MAX_SIZE,
 *   0x3000). On return the kernel has rewritten response.len to the number of
 *   bytes it wrote; only those are the answer. The call blocks while the
 *   device works (an attestation document takes milliseconds), so it runs on
 *   the libuv threadpool, never on the JavaScript thread.
 *
 *   Messages are serde_cbor encodings of Rust enums: a struct variant is a
 *   one-entry map {"Name": {field: value, ...}}, a unit variant is the bare
 *   text "Name", None is null, byte fields are byte strings. Requests we use:
 *     {"Attestation": {"user_data": bstr/null, "nonce": bstr/null, "public_key": bstr/null}}
 *     {"DescribePCR": {"index": u16}}     "DescribeNSM"     "GetRandom"
 *   Answers: {"Attestation": {"document": bstr}} (a COSE_Sign1),
 *     {"DescribePCR": {"lock": bool, "data": bstr}},
 *     {"DescribeNSM": {version_major, version_minor, version_patch, module_id,
 *                      max_pcrs, locked_pcrs, digest}},
 *     {"GetRandom": {"random": bstr}}, or {"Error": "<ErrorCode>"}.
 *   This file moves the bytes only; encoding and decoding live in TypeScript
 *   (packages/enclave/src/attest/nsm-messages.ts).
 * ---------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>
#include <node_api.h>

#define NSM_REQUEST_MAX 0x1000
#define NSM_RESPONSE_MAX 0x3000
struct nsm_iovec { uint64_t addr; uint64_t len; };
struct nsm_raw { struct nsm_iovec request; struct nsm_iovec response; };
#define NSM_IOCTL_RAW _IOWR(0x0A, 0, struct nsm_raw)
_Static_assert(sizeof(struct nsm_raw) == 32, "struct nsm_raw is 32 bytes");

/* Families for connect_stream: vsock in production, unix so tests can drive the same code. */
#define FAMILY_VSOCK 0
#define FAMILY_UNIX 1

/* Bail out of a napi function on any N-API failure (a pending exception stays pending). */
#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

/* An Error with message strerror(err), and err / syscall as properties. */
static napi_value errno_error(napi_env env, int err, const char *syscall) {
  napi_value msg, error, num, sys;
  if (napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, msg, &error) != napi_ok) return NULL;
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  return error;
}
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value error = errno_error(env, err, syscall);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

/* Read `n` arguments (JS checked their types and ranges already). */
static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < n) { napi_throw_type_error(env, NULL, "missing argument"); return -1; }
  return 0;
}
static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) == napi_ok) return 0;
  napi_throw_type_error(env, NULL, "expected an unsigned 32-bit integer");
  return -1;
}

static void vm_address(struct sockaddr_vm *a, uint32_t cid, uint32_t port) {
  memset(a, 0, sizeof *a);
  a->svm_family = AF_VSOCK;
  a->svm_cid = cid;
  a->svm_port = port;
}

/* vsockListen(cid, port, backlog) -> fd: a non-blocking listening vsock socket. */
static napi_value vsock_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  uint32_t cid, port, backlog;
  if (get_args(env, info, 3, argv) || get_u32(env, argv[0], &cid) || get_u32(env, argv[1], &port) ||
      get_u32(env, argv[2], &backlog)) return NULL;
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  struct sockaddr_vm a;
  vm_address(&a, cid, port);
  const char *failed = bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ? "bind" : listen(fd, (int)backlog) != 0 ? "listen" : NULL;
  if (failed != NULL) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, failed);
  }
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

/*
 * connectStream(family, cid, port, path, timeoutMs) -> Promise<fd>.
 *
 * Runs on the libuv threadpool: a non-blocking connect(), then poll() for
 * writability with the timeout, then SO_ERROR. One pool thread is busy for
 * the duration of ONE connect attempt, never for the life of a connection,
 * and nothing spins: poll() sleeps in the kernel. This keeps the C short (no
 * uv_poll/uv_timer state machine sharing the fd with the stream handle that
 * later owns it). A vsock connect is answered by the local hypervisor
 * (accept or reset) in microseconds, so pool threads are held briefly; only
 * a peer whose accept queue is full holds one until the timeout.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int family;
  uint32_t cid, port, timeout_ms;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int fd, err;
  const char *syscall;
} connect_job;

static void connect_execute(napi_env env, void *data) {
  (void)env;
  connect_job *job = data;
  struct sockaddr_vm vm;
  struct sockaddr_un un;
  struct sockaddr *addr;
  socklen_t len;
  if (job->family == FAMILY_VSOCK) {
    vm_address(&vm, job->cid, job->port);
    addr = (struct sockaddr *)&vm;
    len = sizeof vm;
  } else {
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, job->path, sizeof un.sun_path);
    addr = (struct sockaddr *)&un;
    len = sizeof un;
  }
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { job->err = errno; job->syscall = "socket"; return; }
  job->syscall = "connect";
  if (connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) { job->err = errno; close(fd); return; }
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int n;
    do n = poll(&p, 1, (int)job->timeout_ms); while (n < 0 && errno == EINTR);
    if (n == 0) { job->err = ETIMEDOUT; close(fd); return; }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n < 0) soerr = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr != 0) { job->err = soerr; close(fd); return; }
  }
  job->fd = fd;
}

static void connect_complete(napi_env env, napi_status status, void *data) {
  connect_job *job = data;
  napi_value value;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err == 0 && napi_create_int32(env, job->fd, &value) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, value);
  } else {
    if (job->err == 0) { close(job->fd); job->err = ENOMEM; }
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->syscall));
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value connect_stream(napi_env env, napi_callback_info info) {
  napi_value argv[5], promise, name;
  uint32_t family;
  size_t path_len = 0;
  if (get_args(env, info, 5, argv) || get_u32(env, argv[0], &family)) return NULL;
  if (family > FAMILY_UNIX) return throw_errno(env, EAFNOSUPPORT, "socket");
  connect_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "calloc");
  job->fd = -1;
  if (get_u32(env, argv[1], &job->cid) || get_u32(env, argv[2], &job->port) || get_u32(env, argv[4], &job->timeout_ms) ||
      napi_get_value_string_utf8(env, argv[3], job->path, sizeof job->path, &path_len) != napi_ok) {
    free(job);
    return NULL;
  }
  job->family = (int)family;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "vsock:connect", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, connect_execute, connect_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job); /* only reachable before the work is queued; the promise is never settled then */
    return NULL;
  }
  return promise;
}

/* getPeerCid(fd) / getLocalCid(fd) -> the CID of a vsock socket's peer or own end. */
static napi_value get_cid(napi_env env, napi_callback_info info, int peer) {
  napi_value argv[1], result;
  uint32_t fd;
  if (get_args(env, info, 1, argv) || get_u32(env, argv[0], &fd)) return NULL;
  struct sockaddr_vm a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  int rc = peer ? getpeername((int)fd, (struct sockaddr *)&a, &len) : getsockname((int)fd, (struct sockaddr *)&a, &len);
  if (rc != 0) return throw_errno(env, errno, peer ? "getpeername" : "getsockname");
  if (a.svm_family != AF_VSOCK) return throw_errno(env, EAFNOSUPPORT, peer ? "getpeername" : "getsockname");
  CHECK(napi_create_uint32(env, a.svm_cid, &result));
  return result;
}
static napi_value get_peer_cid(napi_env env, napi_callback_info info) { return get_cid(env, info, 1); }
static napi_value get_local_cid(napi_env env, napi_callback_info info) { return get_cid(env, info, 0); }

/* socketPair() -> [fdA, fdB]: a connected AF_UNIX stream pair (tests of the stream layer). */
static napi_value socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  napi_value result, a, b;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return throw_errno(env, errno, "socketpair");
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_int32(env, sv[0], &a) != napi_ok ||
      napi_create_int32(env, sv[1], &b) != napi_ok || napi_set_element(env, result, 0, a) != napi_ok ||
      napi_set_element(env, result, 1, b) != napi_ok) {
    close(sv[0]);
    close(sv[1]);
    return NULL;
  }
  return result;
}

/* closeFd(fd): for fds that never reached a stream handle (and the NSM device). */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint32_t fd;
  if (get_args(env, info, 1, argv) || get_u32(env, argv[0], &fd)) return NULL;
  if (close((int)fd) != 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

/* nsmOpen(path) -> fd. */
static napi_value nsm_open(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  char path[256];
  size_t len;
  if (get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open");
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

/* nsmRequest(fd, request, maxResponseBytes) -> Promise<Buffer>: one NSM_IOCTL_RAW on the threadpool. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd, err;
  size_t request_len, response_len;
  uint8_t request[NSM_REQUEST_MAX];
  uint8_t response[]; /* response_len bytes */
} nsm_job;

static void nsm_execute(napi_env env, void *data) {
  (void)env;
  nsm_job *job = data;
  struct nsm_raw raw = {
    .request = { (uint64_t)(uintptr_t)job->request, job->request_len },
    .response = { (uint64_t)(uintptr_t)job->response, job->response_len },
  };
  int rc;
  do rc = ioctl(job->fd, NSM_IOCTL_RAW, &raw); while (rc < 0 && errno == EINTR);
  if (rc < 0) job->err = errno;
  else job->response_len = raw.response.len < job->response_len ? raw.response.len : job->response_len;
}

static void nsm_complete(napi_env env, napi_status status, void *data) {
  nsm_job *job = data;
  napi_value buffer;
  void *copy;
  if (status != napi_ok && job->err == 0) job->err = ECANCELED;
  if (job->err == 0 && napi_create_buffer_copy(env, job->response_len, job->response, &copy, &buffer) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, buffer);
  } else {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err != 0 ? job->err : ENOMEM, "ioctl"));
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value nsm_request(napi_env env, napi_callback_info info) {
  napi_value argv[3], promise, name;
  uint32_t fd, max_response;
  void *request;
  size_t request_len;
  if (get_args(env, info, 3, argv) || get_u32(env, argv[0], &fd) || get_u32(env, argv[2], &max_response)) return NULL;
  CHECK(napi_get_buffer_info(env, argv[1], &request, &request_len));
  if (request_len == 0 || request_len > NSM_REQUEST_MAX) return throw_errno(env, EMSGSIZE, "ioctl");
  if (max_response == 0 || max_response > NSM_RESPONSE_MAX) return throw_errno(env, EINVAL, "ioctl");
  nsm_job *job = calloc(1, sizeof *job + max_response);
  if (job == NULL) return throw_errno(env, ENOMEM, "calloc");
  job->fd = (int)fd;
  job->request_len = request_len;
  job->response_len = max_response;
  memcpy(job->request, request, request_len); /* the pool thread never touches JS memory */
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "vsock:nsm", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, nsm_execute, nsm_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    free(job);
    return NULL;
  }
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
    { "vsockListen", NULL, vsock_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connectStream", NULL, connect_stream, NULL, NULL, NULL, napi_enumerable, NULL },
    { "getPeerCid", NULL, get_peer_cid, NULL, NULL, NULL, napi_enumerable, NULL },
    { "getLocalCid", NULL, get_local_cid, NULL, NULL, NULL, napi_enumerable, NULL },
    { "socketPair", NULL, socket_pair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "nsmOpen", NULL, nsm_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "nsmRequest", NULL, nsm_request, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
