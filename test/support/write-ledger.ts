// What an adversarial case wrote, and the check that nothing acknowledged
// was lost. Each record has one writer at a time (a writer loop owns its
// record), every value is unique, and a write counts as acknowledged only
// when the enclave answered 200 or 201 with its version. Afterwards, per
// record:
//   - the stored version is at least the highest acknowledged one (a lower
//     one, or 404, is a lost write);
//   - at exactly that version the value is the acknowledged one;
//   - above it (a write that was in flight when its answer was lost) the
//     value is one that was sent for this record, never anything else.

import assert from 'node:assert/strict';
import type { TestResponse } from './https-request.js';

export class WriteLedger {
  readonly #sent = new Map<string, Set<string>>();
  readonly #acknowledged = new Map<string, { version: number; value: string }>();
  #acknowledgedCount = 0;

  /** Call before sending `value` to `record`. */
  sent(record: string, value: string): void {
    let values = this.#sent.get(record);
    if (values === undefined) this.#sent.set(record, (values = new Set()));
    values.add(value);
  }

  /** Call when the enclave answered 200/201 with `version`. */
  acknowledged(record: string, value: string, version: number): void {
    const previous = this.#acknowledged.get(record);
    assert.ok(previous === undefined || version > previous.version, `${record}: acknowledged version ${version} after ${previous?.version} (versions must grow)`);
    this.#acknowledged.set(record, { version, value });
    this.#acknowledgedCount += 1;
  }

  /** Writes acknowledged so far. */
  get acknowledgedCount(): number {
    return this.#acknowledgedCount;
  }

  /** Records with at least one acknowledged write. */
  get acknowledgedRecords(): string[] {
    return [...this.#acknowledged.keys()];
  }

  /** Reads every record with an acknowledged write through `read` (GET /private-data/{record}) and checks it; returns how many were checked. */
  async verify(read: (record: string) => Promise<TestResponse>): Promise<number> {
    for (const [record, acked] of this.#acknowledged) {
      const got = await read(record);
      assert.equal(got.status, 200, `${record}: acknowledged at version ${acked.version}, now ${got.status} ${got.body.toString()} (a lost write)`);
      const version = Number(/^"(\d+)-/.exec(String(got.headers['etag']))?.[1]);
      const value = got.body.toString('utf8');
      assert.ok(version >= acked.version, `${record}: version ${version} is below the acknowledged ${acked.version} (a lost write)`);
      if (version === acked.version) assert.equal(value, acked.value, `${record}@${version}: not the acknowledged value`);
      else assert.ok(this.#sent.get(record)?.has(value) === true, `${record}@${version}: a value nobody sent to this record`);
    }
    return this.#acknowledged.size;
  }
}
