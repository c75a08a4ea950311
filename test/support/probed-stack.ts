// A stack under attack, watched: the real host and enclave, a token with one
// stored document, the memory of both programs sampled from the start, and a
// probe client from another source address reading that document all along.
// Corpus cases (smuggling, JSON) start one, attack, then read the watchers.

import assert from 'node:assert/strict';
import { newToken, sendRequest } from './https-request.js';
import { startProbe, type Probe } from './probe-client.js';
import { sampleMemory, type MemorySampler } from './process-memory.js';
import { startStack, type Stack, type StackOptions } from './stack.js';

export interface ProbedStack {
  readonly stack: Stack;
  readonly token: string;
  readonly probe: Probe;
  readonly enclaveMemory: MemorySampler;
  readonly hostMemory: MemorySampler;
  stop(): Promise<void>;
}

/** The probe reads `/private-data/probe` of `token` from `probeSource` every 150 ms. */
export async function startProbedStack(options: StackOptions & { readonly probeSource: string }): Promise<ProbedStack> {
  const stack = await startStack({ ...options, hostEnv: { LOG_LEVEL: 'info', ...options.hostEnv }, enclaveEnv: { LOG_LEVEL: 'info', ...options.enclaveEnv } });
  const token = await newToken();
  const stored = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/probe', token, body: '{"probe":true}' });
  assert.equal(stored.status, 201);
  const enclaveMemory = sampleMemory(stack.enclave.child.pid ?? 0);
  const hostMemory = sampleMemory(stack.host.child.pid ?? 0);
  const probe = startProbe({ port: stack.port, localAddress: options.probeSource, path: '/private-data/probe', token, intervalMs: 150, timeoutMs: 5_000 });
  return {
    stack,
    token,
    probe,
    enclaveMemory,
    hostMemory,
    async stop() {
      await probe.stop();
      enclaveMemory.stop();
      hostMemory.stop();
      await stack.stop();
    },
  };
}
