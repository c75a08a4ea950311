// Rollback detection that no client can evict (issue 9, finding 2).
//
// The enclave must refuse a record older than one it has seen. Memory holds
// the most recently touched records (version-watermark.ts, an LRU of
// ROLLBACK_CACHE_ENTRIES). A record that leaves memory is not forgotten: it
// goes to a pending list and then into a watermark page of THIS RUN
// (watermark-page.ts): a sealed record on the host whose record id carries a
// random run id drawn at start. This run is the only writer of its pages, so
// it knows the exact version and tag of each (4 096 pages x 24 bytes of
// anchors) and accepts nothing else: an older page, a dropped one, a fork, or
// a page of another run or enclave (which has another record id and does not
// open) are all refused. What this run saw of a record is then the highest of
// memory, the pending list, and the record's page, and no client can push a
// record out of it: leaving memory costs the record's next cold read one
// page read (often cached), nothing else.
//
// What a reply is judged against: only what was known BEFORE its GET was
// sent (#readCurrent in private-documents.ts takes `known()` first, then
// sends the GET). A concurrent write of ours whose answer arrives while the
// GET is in flight may carry a newer version than the host had when it
// served the GET; judging by it would be a false rollback (the review of
// 2026-12-02 measured 5-22 % of reads under 48 concurrent writers).
//
// A record that comes back into memory (a reply, or a write's answer, that
// arrives late) never comes back below what the pending list or its page
// holds: raise() merges them in, or marks the entry incomplete so that
// lookups still read the page. An equal version with another blob is a fork
// and is refused, in memory, pending and page alike.
//
// A page write whose answer is lost (timeout, reconnect) may land later: the
// sealed blob stays "in doubt" with its batch still pending, the page takes
// no other write, and the same blob is sent again at the same expected
// version until the store settles it (WRITTEN; or CONFLICT at the next
// version and a read showing exactly that blob). Reads accept the anchored
// blob or the one in doubt, and never clear a doubt on "not landed yet".
//
// Bounded:
//   - memory: ROLLBACK_CACHE_ENTRIES records; at most PENDING_SPILL_MAX
//     pending entries (a request for a record not in memory, which could push
//     another out, waits for room, at most `waitTimeoutMs`, then 503);
//     anchors (4 096 x 24 bytes); opened pages up to PAGE_CACHE_BYTES;
//   - storage work: at most MAX_CONCURRENT_PAGE_WRITES page writes at once;
//     one operation at a time per page (reads and writes of a page queue).
// Requests for records in memory never wait for the spill.
//
// What remains (docs/threat-model.md): a restarted enclave starts a new run
// with no pages, so the host may serve it older records (a whole-database
// rollback before a start; issue 12). Pages of ended runs stay on the host
// until it deletes them (the run id is visible to it for that).

import { randomBytes } from 'node:crypto';

import type { Keyring } from '../keys/keyring.js';
import type { RecordId } from '../keys/identifiers.js';
import type { Logger } from '../log.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { TAG_BYTES } from '../seal/sealed-envelope.js';
import { type GetResult, type WriteResult } from '../storage/storage-client.js';
import { higherSeen, VersionWatermark, VERSION_WATERMARK_ENTRIES, type Seen } from './version-watermark.js';
import { pageOfRecord, pageRecordId, RUN_ID_BYTES, WATERMARK_OWNER, WATERMARK_PAGE_COUNT, WatermarkPage, type PageEntry } from './watermark-page.js';
import { StorageRollbackError, StorageUnavailableError } from '../enclave-errors.js';

/** Entries evicted from memory and not yet in a stored page (about 8 MiB); past it requests that could evict more wait. */
export const PENDING_SPILL_MAX = 50_000;
/** Page writes running at once (each one PUT, plus a GET when the page is not cached). */
export const MAX_CONCURRENT_PAGE_WRITES = 8;
/** Opened pages kept in memory, in bytes of entries (16 MiB). */
export const PAGE_CACHE_BYTES = 16 * 1024 * 1024;
/** After a failed page write: wait before trying that page again. */
const PAGE_WRITE_RETRY_MS = 1_000;
/** Default longest wait for spill room (the storage timeout's default). */
const DEFAULT_WAIT_TIMEOUT_MS = 5_000;

/** The storage calls the guard needs (StorageClient has them). */
export interface PageStorage {
  get(owner: Buffer, record: Buffer): Promise<GetResult>;
  put(owner: Buffer, record: Buffer, expectedVersion: number, blob: Buffer): Promise<WriteResult>;
}

export interface RollbackGuardOptions {
  readonly storage: PageStorage;
  /** The current keyring (it changes at a rotation; the identity key never does). */
  readonly keyring: () => Keyring;
  readonly cacheEntries?: number;
  /** PENDING_SPILL_MAX unless given (tests use a small one). */
  readonly pendingSpillMax?: number;
  /** PAGE_CACHE_BYTES unless given (tests use 0: every cold lookup reads its page). */
  readonly pageCacheBytes?: number;
  /** Longest wait for spill room before 503 (STORAGE_TIMEOUT_MS). */
  readonly waitTimeoutMs?: number;
  readonly logger?: Logger;
}

interface PendingEntry extends PageEntry {
  readonly page: number;
}

/** An opened page and the version it was stored as. */
interface PageView {
  readonly version: number;
  readonly tag: Buffer;
  readonly page: WatermarkPage;
}

/** A page write sent but not confirmed: the blob, what it holds, and the pending entries it carries. */
interface InDoubt {
  readonly expectedVersion: number;
  readonly sealed: Buffer;
  readonly view: PageView;
  readonly batch: readonly PendingEntry[];
}

interface SpillWaiter {
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

export class RollbackGuard {
  readonly #storage: PageStorage;
  readonly #keyring: () => Keyring;
  readonly #logger: Logger | undefined;
  readonly #memory: VersionWatermark;
  readonly #runId = randomBytes(RUN_ID_BYTES);
  /** Evicted from memory, not yet in a stored page: by page, then record hex. */
  readonly #pending = new Map<number, Map<string, PendingEntry>>();
  #pendingCount = 0;
  readonly #pendingSpillMax: number;
  readonly #waitTimeoutMs: number;
  readonly #spillWaiters: SpillWaiter[] = [];
  /** Pages with pending entries, in the order they should be written. */
  readonly #dirty = new Set<number>();
  #writing = 0;
  /** Exact version of each page of this run (0: never written) and the tag of its blob. */
  readonly #anchorVersions = new Float64Array(WATERMARK_PAGE_COUNT);
  readonly #anchorTags = Buffer.alloc(WATERMARK_PAGE_COUNT * TAG_BYTES);
  /** Page writes whose answer was lost: they may land yet. */
  readonly #inDoubt = new Map<number, InDoubt>();
  /** Page reads in flight, shared by every lookup of that page. */
  readonly #pageReads = new Map<number, Promise<PageView>>();
  readonly #pageCache = new Map<number, PageView>();
  #pageCacheBytes = 0;
  readonly #pageCacheLimit: number;
  /** One operation at a time per page: the tail of each page's queue. */
  readonly #pageQueues = new Map<number, Promise<void>>();

  constructor(options: RollbackGuardOptions) {
    this.#storage = options.storage;
    this.#keyring = options.keyring;
    this.#logger = options.logger;
    this.#pendingSpillMax = options.pendingSpillMax ?? PENDING_SPILL_MAX;
    this.#pageCacheLimit = options.pageCacheBytes ?? PAGE_CACHE_BYTES;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    this.#memory = new VersionWatermark(options.cacheEntries ?? VERSION_WATERMARK_ENTRIES, (key, seen) => this.#spill(key, seen));
  }

  /** This run's id (the host sees it in page record ids; logged at start for storage-side cleanup). */
  get runId(): string {
    return this.#runId.toString('hex');
  }

  /**
   * Resolves at once when `record` is in memory (touching it evicts nothing)
   * or the pending spill has room; otherwise waits for room, at most the
   * wait timeout, then rejects with StorageUnavailableError (503).
   */
  whenRoomFor(record: RecordId): Promise<void> {
    if (this.#pendingCount < this.#pendingSpillMax || this.#memory.get(record.toString('hex')) !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: SpillWaiter = {
        resolve: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = this.#spillWaiters.indexOf(waiter);
          if (index >= 0) this.#spillWaiters.splice(index, 1);
          reject(new StorageUnavailableError('watermark pages are not being written fast enough'));
        }, this.#waitTimeoutMs),
      };
      this.#spillWaiters.push(waiter);
    });
  }

  /**
   * What this run has seen of `record`: memory, the pending spill, or its
   * page (read from the host unless cached; only pages this run wrote).
   * Call it BEFORE sending the GET the answer will judge. Throws
   * StorageRollbackError / StorageIntegrityError when the page itself is
   * rolled back or forged, and the storage client's errors when the page
   * cannot be read.
   */
  async known(record: RecordId): Promise<Seen | undefined> {
    const key = record.toString('hex');
    const page = pageOfRecord(record);
    const inMemory = this.#memory.get(key);
    // In memory and complete, or in no page of this run: memory and the pending list say it all.
    if ((inMemory !== undefined && inMemory.complete !== false) || (this.#anchorVersions[page] ?? 0) === 0) return this.#remembered(key, page);
    const view = await this.#pageView(page);
    const fromPage = view.page.get(record);
    return higherSeen(fromPage === undefined ? undefined : { ...fromPage, inPage: true }, this.#remembered(key, page));
  }

  /**
   * Records an authenticated (or store-confirmed) version and its blob's tag;
   * never lowers the mark. `inPage`: it was read from this run's page at this
   * very version and tag, so leaving memory again writes nothing. A record
   * not in memory comes back no lower than its pending entry and its page
   * (when cached; otherwise marked incomplete, see known()). Throws
   * StorageRollbackError for another blob at a version already seen (a fork).
   */
  raise(record: RecordId, version: number, blobTag: Buffer, inPage = false): void {
    const key = record.toString('hex');
    const page = pageOfRecord(record);
    let next: Seen = { version, blobTag, inPage };
    if (this.#memory.get(key) === undefined) {
      const others: (Seen | undefined)[] = [this.#pending.get(page)?.get(key)];
      const anchored = (this.#anchorVersions[page] ?? 0) > 0;
      const cached = this.#pageCache.get(page);
      const cachedAtAnchor = cached !== undefined && cached.version === this.#anchorVersions[page];
      if (anchored && cachedAtAnchor) {
        const fromPage = cached.page.get(record);
        others.push(fromPage === undefined ? undefined : { ...fromPage, inPage: true });
      }
      for (const other of others) {
        if (other === undefined) continue;
        if (other.version === next.version && !other.blobTag.equals(next.blobTag)) throw new StorageRollbackError();
        if (other.version > next.version || (other.version === next.version && other.inPage === true)) next = other;
      }
      if (anchored && !cachedAtAnchor) next = { ...next, complete: false };
    }
    if (!this.#memory.raise(key, next)) throw new StorageRollbackError();
  }

  /** Counts for tests and the README arithmetic. */
  get stats(): { inMemory: number; pending: number; cachedPages: number; cachedPageBytes: number; waiting: number } {
    return { inMemory: this.#memory.size, pending: this.#pendingCount, cachedPages: this.#pageCache.size, cachedPageBytes: this.#pageCacheBytes, waiting: this.#spillWaiters.length };
  }

  /** Resolves once nothing is pending (tests); rejects after `timeoutMs`. */
  async flushed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pendingCount > 0) {
      if (Date.now() > deadline) throw new Error(`${this.#pendingCount} watermark entries still pending after ${timeoutMs} ms`);
      this.#kick();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #remembered(key: string, page: number): Seen | undefined {
    return higherSeen(this.#memory.get(key), this.#pending.get(page)?.get(key));
  }

  #spill(key: string, seen: Seen): void {
    if (seen.inPage === true) return; // this run's page already holds it (pages only grow)
    const record = Buffer.from(key, 'hex');
    const page = pageOfRecord(record);
    let entries = this.#pending.get(page);
    if (entries === undefined) {
      entries = new Map();
      this.#pending.set(page, entries);
    }
    const existing = entries.get(key);
    if (existing === undefined) this.#pendingCount += 1;
    if (existing === undefined || seen.version > existing.version) entries.set(key, { page, record, version: seen.version, blobTag: seen.blobTag });
    this.#dirty.add(page);
    this.#kick();
  }

  #kick(): void {
    while (this.#writing < MAX_CONCURRENT_PAGE_WRITES && this.#dirty.size > 0) {
      const page = this.#dirty.values().next().value as number;
      this.#dirty.delete(page);
      this.#writing += 1;
      this.#onPage(page, () => this.#writePage(page))
        .catch((error: unknown) => {
          this.#logger?.warn('watermark page write failed; retrying', { page, error: error instanceof Error ? error.name : 'unknown' });
          setTimeout(() => {
            if (this.#pending.has(page)) this.#dirty.add(page);
            this.#kick();
          }, PAGE_WRITE_RETRY_MS).unref();
        })
        .finally(() => {
          this.#writing -= 1;
          this.#kick();
        });
    }
  }

  /** Runs `operation` after every earlier operation on `page` settled. */
  #onPage<T>(page: number, operation: () => Promise<T>): Promise<T> {
    const previous = this.#pageQueues.get(page) ?? Promise.resolve();
    const run = previous.then(operation);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#pageQueues.set(page, tail);
    void tail.then(() => {
      if (this.#pageQueues.get(page) === tail) this.#pageQueues.delete(page);
    });
    return run;
  }

  /** The page as anchored: from the cache, or read and checked (queued behind the page's other operations). */
  #pageView(page: number): Promise<PageView> {
    const cached = this.#pageCache.get(page);
    if (cached !== undefined && cached.version === this.#anchorVersions[page]) return Promise.resolve(cached);
    const shared = this.#pageReads.get(page);
    if (shared !== undefined) return shared;
    const read = this.#onPage(page, () => this.#readPage(page)).finally(() => {
      if (this.#pageReads.get(page) === read) this.#pageReads.delete(page);
    });
    this.#pageReads.set(page, read);
    return read;
  }

  /**
   * Merges the page's pending entries into it (compare-and-set on the
   * anchored version), then drops them from the pending list. While an
   * earlier write of the page is in doubt, sends that same blob again instead.
   */
  async #writePage(page: number): Promise<void> {
    const recordId = pageRecordId(this.#runId, page);
    let doubt = this.#inDoubt.get(page);
    if (doubt === undefined) {
      const pending = this.#pending.get(page);
      if (pending === undefined || pending.size === 0) return;
      const batch = [...pending.values()];
      const anchored = this.#anchorVersions[page] ?? 0;
      const current = anchored === 0 ? undefined : await this.#readPage(page, true);
      const version = current?.version ?? 0;
      const next = (current?.page ?? WatermarkPage.empty(page)).mergedWith(batch);
      const keyring = this.#keyring();
      const sealed = sealRecord({ keyring, owner: WATERMARK_OWNER, record: recordId, version: version + 1, plaintext: next.encode(), keyId: keyring.identityKeyId });
      doubt = { expectedVersion: version, sealed, view: { version: version + 1, tag: Buffer.from(sealed.subarray(sealed.length - TAG_BYTES)), page: next }, batch };
      this.#inDoubt.set(page, doubt);
    }
    // If this throws (timeout, reconnect), the write stays in doubt and is sent again, identical.
    const result = await this.#storage.put(WATERMARK_OWNER, recordId, doubt.expectedVersion, doubt.sealed);
    if (result.written) {
      this.#settle(page, doubt);
      return;
    }
    // CONFLICT: landed earlier (the current version is ours, and a read shows our blob), or the host changed the page.
    if (result.currentVersion === doubt.view.version) {
      await this.#readPage(page, true); // adopts and settles the blob in doubt, or throws
      if (!this.#inDoubt.has(page)) return;
    }
    throw new StorageRollbackError(); // nobody else writes this run's pages; still in doubt, retried later
  }

  /** A write in doubt is now known to be stored: adopt its page and drop the pending entries it carries. */
  #settle(page: number, doubt: InDoubt): void {
    if (this.#inDoubt.get(page) !== doubt) return;
    this.#inDoubt.delete(page);
    this.#adopt(page, doubt.view);
    const pending = this.#pending.get(page);
    if (pending !== undefined) {
      for (const entry of doubt.batch) {
        const key = entry.record.toString('hex');
        if (pending.get(key) === entry) {
          pending.delete(key);
          this.#pendingCount -= 1;
        }
      }
      if (pending.size === 0) this.#pending.delete(page);
      else this.#dirty.add(page); // more arrived meanwhile
    }
    let room = this.#pendingSpillMax - this.#pendingCount;
    while (room > 0 && this.#spillWaiters.length > 0) {
      this.#spillWaiters.shift()?.resolve();
      room -= 1;
    }
  }

  /**
   * Reads page `page` of this run and accepts exactly the anchored blob or
   * the one in doubt (which it then settles). `fresh`: skip the cache. Runs
   * inside the page's queue.
   */
  async #readPage(page: number, fresh = false): Promise<PageView> {
    const anchored = this.#anchorVersions[page] ?? 0;
    const cached = this.#pageCache.get(page);
    if (!fresh && cached !== undefined && cached.version === anchored && anchored > 0) return cached;
    const recordId = pageRecordId(this.#runId, page);
    const reply = await this.#storage.get(WATERMARK_OWNER, recordId);
    const doubt = this.#inDoubt.get(page);
    if (!reply.found) {
      if (anchored > 0) throw new StorageRollbackError(); // a page of this run, dropped
      return { version: 0, tag: Buffer.alloc(TAG_BYTES), page: WatermarkPage.empty(page) }; // not written (yet: a doubt stays)
    }
    const tag = reply.blob.subarray(reply.blob.length - TAG_BYTES);
    const anchoredTag = this.#anchorTags.subarray(page * TAG_BYTES, (page + 1) * TAG_BYTES);
    const isAnchored = anchored > 0 && reply.version === anchored && anchoredTag.equals(tag);
    const isDoubt = doubt !== undefined && reply.version === doubt.view.version && doubt.view.tag.equals(tag);
    // Not the blob this run last wrote: older, newer, forked, or another run's.
    if (!isAnchored && !isDoubt) throw new StorageRollbackError();
    // A page that does not open or decode throws StorageIntegrityError with its reason.
    const opened = WatermarkPage.decode(page, openRecord({ keyring: this.#keyring(), owner: WATERMARK_OWNER, record: recordId, version: reply.version, sealed: reply.blob }));
    if (isDoubt) {
      this.#settle(page, doubt);
      return doubt.view;
    }
    const view = { version: reply.version, tag: Buffer.from(tag), page: opened };
    this.#adopt(page, view);
    return view;
  }

  /** `view` is now this run's page: anchor it and cache it. */
  #adopt(page: number, view: PageView): void {
    this.#anchorVersions[page] = view.version;
    view.tag.copy(this.#anchorTags, page * TAG_BYTES);
    const previous = this.#pageCache.get(page);
    if (previous !== undefined) {
      this.#pageCache.delete(page);
      this.#pageCacheBytes -= previous.page.byteLength;
    }
    if (this.#pageCacheLimit === 0 || view.page.byteLength > this.#pageCacheLimit) return;
    this.#pageCache.set(page, view);
    this.#pageCacheBytes += view.page.byteLength;
    for (const [oldest, cached] of this.#pageCache) {
      if (this.#pageCacheBytes <= this.#pageCacheLimit) break;
      this.#pageCache.delete(oldest);
      this.#pageCacheBytes -= cached.page.byteLength;
    }
  }
}
