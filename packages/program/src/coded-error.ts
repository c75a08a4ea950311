// The base of every error class of ours that leaves the function that made
// it: a stable `code` (listed in docs/errors.md), the HTTP `status` it stands
// for where one applies (500 where it never reaches HTTP: start-up and bug
// classes), who is at fault (`source`), and the standard `cause`.
//
// Each trust domain (the enclave, the host) lists all of its codes in one
// catalogue file built on this class; a test keeps docs/errors.md equal to
// each catalogue. Messages are fixed strings, names, lengths and codes:
// never a value that came from a request, a key, a token or stored data.

export class CodedError extends Error {
  readonly code: string;
  readonly status: number;
  readonly source: string;
  constructor(code: string, status: number, source: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.status = status;
    this.source = source;
    this.name = `${code}Error`;
  }
}

/** A class of a catalogue: constructible with an optional message (the class's default) and options. */
export type CodedErrorClass = new (message?: string, options?: ErrorOptions) => CodedError;
