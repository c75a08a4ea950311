// Rollback detection that no client can evict (issue 9, finding 2).
//
// The enclave must refuse a record older than one it has seen. Memory holds
// the most recently touched records (version-watermark.ts, an LRU). A record
// that leaves memory is not forgotten: it goes to a pending list and then
// into its watermark page (watermark-page.ts), a sealed record on the host.
// The guard anchors every page it reads or writes: it keeps the page's
// version and tag (65 536 pages x 24 bytes, about 1.5 MiB, fixed). So the
// host cannot serve an older page than one this enclave saw, nor drop a page
// it saw (NOT_FOUND below the anchor), nor a fork of one; and inside a page
// it cannot change an entry (AEAD). What this enclave saw of a record is
// then, always, the highest of: memory, the pending list, and the record's
// page. Touching a million records costs their owner storage and time, and
// the victim nothing but one more storage read when its record is next read
// cold (the page is read alongside the record, in parallel).
//
// Bounded:
//   - memory: `cacheEntries` records (ROLLBACK_CACHE_ENTRIES), at most
//     PENDING_SPILL_MAX pending entries (past it, new storage work waits for
//     the spill: `whenSpillRoom`), page anchors (1.5 MiB), and a cache of
//     opened pages bounded by PAGE_CACHE_BYTES;
//   - storage work: at most MAX_CONCURRENT_PAGE_WRITES page writes at once,
//     one page load in flight per page (single flight).
// Pages are shared by the enclaves of a deployment (same identity key):
// another enclave's write only raises a page's version and merges entries
// with the higher version winning, so it never makes this enclave refuse a
// genuine record. A page's entry is a lower bound: a stale cached page is
// weaker, never wrong.
//
// What remains (docs/threat-model.md): a restarted enclave holds no anchors,
// so the host may serve it older pages and records, consistent with each
// other (a whole-database rollback before a start; issue 12); records in
// memory only (not yet spilled) are forgotten at a restart.

import type { Keyring } from '../keys/keyring.js';
import type { RecordId } from '../keys/identifiers.js';
import type { Logger } from '../log.js';
import { openRecord, sealRecord } from '../seal/seal-record.js';
import { StorageIntegrityError } from '../seal/seal-errors.js';
import { TAG_BYTES } from '../seal/sealed-envelope.js';
import { StorageIntegrityApiError, StorageRollbackError } from '../http/api-errors.js';
import { StorageUnavailable, type GetResult, type WriteResult } from '../storage/storage-client.js';
import { higherSeen, VersionWatermark, VERSION_WATERMARK_ENTRIES, type Seen } from './version-watermark.js';
import {
  pageOfRecord,
  pageRecordId,
  WATERMARK_OWNER,
  WATERMARK_PAGE_COUNT,
  WatermarkPage,
  WatermarkPageError,
  type PageEntry,
} from './watermark-page.js';

/** Entries evicted from memory and not yet in a stored page; past it new storage work waits (about 8 MiB). */
export const PENDING_SPILL_MAX = 50_000;
/** Page writes running at once (each a GET and a PUT on the storage channel). */
export const MAX_CONCURRENT_PAGE_WRITES = 4;
/** Opened pages kept in memory, in bytes of entries (16 MiB). */
export const PAGE_CACHE_BYTES = 16 * 1024 * 1024;
/** Compare-and-set attempts of one page write before it is tried again later. */
const PAGE_WRITE_ATTEMPTS = 4;
/** Page reads of one lookup before giving up (the page changed under each; only heavy concurrent spilling does that). */
const SEEN_PAGE_ATTEMPTS = 16;
/** After a failed page write: wait before trying that page again. */
const PAGE_WRITE_RETRY_MS = 1_000;

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
  readonly logger?: Logger;
}

interface PendingEntry extends PageEntry {
  readonly page: number;
}

/** An opened page and the version it was stored as. */
interface PageView {
  readonly version: number;
  readonly page: WatermarkPage;
}

export class RollbackGuard {
  readonly #storage: PageStorage;
  readonly #keyring: () => Keyring;
  readonly #logger: Logger | undefined;
  readonly #memory: VersionWatermark;
  /** Evicted from memory, not yet in a stored page: by page, then record hex. */
  readonly #pending = new Map<number, Map<string, PendingEntry>>();
  #pendingCount = 0;
  readonly #spillWaiters: (() => void)[] = [];
  /** Pages with pending entries, in the order they should be written. */
  readonly #dirty = new Set<number>();
  #writing = 0;
  /** Page anchors: highest version seen (0: none, or seen absent) and the tag of its blob. */
  readonly #anchorVersions = new Float64Array(WATERMARK_PAGE_COUNT);
  readonly #anchorTags = Buffer.alloc(WATERMARK_PAGE_COUNT * TAG_BYTES);
  readonly #pageCache = new Map<number, PageView>();
  /** Pages being written (one write per page at a time). */
  readonly #writingPages = new Set<number>();
  #pageCacheBytes = 0;
  readonly #loading = new Map<number, Promise<PageView>>();
  #closed = false;
  readonly #pendingSpillMax: number;
  readonly #pageCacheLimit: number;

  constructor(options: RollbackGuardOptions) {
    this.#pendingSpillMax = options.pendingSpillMax ?? PENDING_SPILL_MAX;
    this.#pageCacheLimit = options.pageCacheBytes ?? PAGE_CACHE_BYTES;
    this.#storage = options.storage;
    this.#keyring = options.keyring;
    this.#logger = options.logger;
    this.#memory = new VersionWatermark(options.cacheEntries ?? VERSION_WATERMARK_ENTRIES, (key, seen) => this.#spill(key, seen));
  }

  /** Resolves once the pending spill has room; storage work on records waits here so that the spill stays bounded. */
  whenSpillRoom(): Promise<void> {
    if (this.#pendingCount < this.#pendingSpillMax || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#spillWaiters.push(resolve));
  }

  /**
   * What this enclave has seen of `record`: memory, the pending spill, or its
   * page (read from the host unless cached). Throws StorageRollbackError /
   * StorageIntegrityApiError when the page itself is rolled back or forged,
   * and the storage client's errors when the page cannot be read.
   */
  async seen(record: RecordId): Promise<Seen | undefined> {
    const key = record.toString('hex');
    const inMemory = this.#inMemory(key, record);
    if (inMemory !== undefined) return inMemory;
    const page = pageOfRecord(record);
    for (let attempt = 0; attempt < SEEN_PAGE_ATTEMPTS; attempt += 1) {
      const view = this.#pageCache.get(page) ?? (await this.#loadPage(page));
      // A page written (or read) meanwhile may hold entries that have left
      // the pending list since: use a view at least as new as the anchor.
      if (view.version < (this.#anchorVersions[page] ?? 0)) {
        this.#uncachePage(page, view);
        continue;
      }
      return higherSeen(view.page.get(record), this.#inMemory(key, record));
    }
    throw new StorageUnavailable(`watermark page ${page} kept changing while it was read`);
  }

  /** Records an authenticated (or store-confirmed) version and its blob's tag; never lowers the mark. */
  raise(record: RecordId, version: number, blobTag: Buffer): void {
    this.#memory.raise(record.toString('hex'), version, blobTag);
  }

  /** Counts for tests and the README arithmetic. */
  get stats(): { inMemory: number; pending: number; cachedPages: number; cachedPageBytes: number } {
    return { inMemory: this.#memory.size, pending: this.#pendingCount, cachedPages: this.#pageCache.size, cachedPageBytes: this.#pageCacheBytes };
  }

  /** Resolves once nothing is pending (tests; a graceful stop may call it with a deadline). */
  async flushed(): Promise<void> {
    while (this.#pendingCount > 0 && !this.#closed) {
      this.#kick();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops page writes (the storage connection is closing). */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#spillWaiters.splice(0)) waiter();
  }

  /** What memory and the pending spill hold of `record` (no storage read). */
  remembered(record: RecordId): Seen | undefined {
    return this.#inMemory(record.toString('hex'), record);
  }

  #inMemory(key: string, record: Buffer): Seen | undefined {
    return higherSeen(this.#memory.get(key), this.#pending.get(pageOfRecord(record))?.get(key));
  }

  #spill(key: string, seen: Seen): void {
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
    while (!this.#closed && this.#writing < MAX_CONCURRENT_PAGE_WRITES) {
      let page: number | undefined;
      for (const candidate of this.#dirty) {
        if (!this.#writingPages.has(candidate)) {
          page = candidate;
          break;
        }
      }
      if (page === undefined) return;
      const chosen = page;
      this.#dirty.delete(chosen);
      this.#writingPages.add(chosen);
      this.#writing += 1;
      this.#writePage(chosen)
        .catch((error: unknown) => {
          this.#logger?.warn('watermark page write failed; retrying', { page: chosen, error: error instanceof Error ? error.name : 'unknown' });
          setTimeout(() => {
            if (this.#pending.has(chosen)) this.#dirty.add(chosen);
            this.#kick();
          }, PAGE_WRITE_RETRY_MS).unref();
        })
        .finally(() => {
          this.#writingPages.delete(chosen);
          this.#writing -= 1;
          this.#kick();
        });
    }
  }

  /** Merges the page's pending entries into the stored page (compare-and-set), then drops them from the pending list. */
  async #writePage(page: number): Promise<void> {
    const pending = this.#pending.get(page);
    if (pending === undefined || pending.size === 0) return;
    const batch = [...pending.values()];
    const recordId = pageRecordId(page);
    for (let attempt = 0; attempt < PAGE_WRITE_ATTEMPTS; attempt += 1) {
      const current = await this.#loadPage(page, true);
      const next = current.page.mergedWith(batch);
      const keyring = this.#keyring();
      const sealed = sealRecord({ keyring, owner: WATERMARK_OWNER, record: recordId, version: current.version + 1, plaintext: next.encode(), keyId: keyring.identityKeyId });
      const result = await this.#storage.put(WATERMARK_OWNER, recordId, current.version, sealed);
      if (!result.written) continue; // another enclave wrote the page: read it again and merge
      this.#anchor(page, result.version, sealed.subarray(sealed.length - TAG_BYTES));
      this.#cachePage({ version: result.version, page: next });
      for (const entry of batch) {
        const key = entry.record.toString('hex');
        if (pending.get(key) === entry) {
          pending.delete(key);
          this.#pendingCount -= 1;
        }
      }
      if (pending.size === 0) this.#pending.delete(page);
      else this.#dirty.add(page); // more arrived meanwhile
      while (this.#pendingCount < this.#pendingSpillMax && this.#spillWaiters.length > 0) this.#spillWaiters.shift()?.();
      return;
    }
    throw new Error(`page ${page}: compare-and-set lost ${PAGE_WRITE_ATTEMPTS} times`);
  }

  /** Reads, checks against its anchor, opens and decodes page `page`; one read in flight per page. */
  #loadPage(page: number, fresh = false): Promise<PageView> {
    const inFlight = this.#loading.get(page);
    if (inFlight !== undefined && !fresh) return inFlight;
    const load = this.#readPage(page).finally(() => {
      if (this.#loading.get(page) === load) this.#loading.delete(page);
    });
    if (!fresh) this.#loading.set(page, load);
    return load;
  }

  async #readPage(page: number): Promise<PageView> {
    const recordId = pageRecordId(page);
    // Below what was anchored when the read was sent: a rollback. (The anchor
    // may rise while the read is in flight, by a write of ours: a reply older
    // than that is stale, not forged; seen() reads again.)
    const anchoredBefore = this.#anchorVersions[page] ?? 0;
    const reply = await this.#storage.get(WATERMARK_OWNER, recordId);
    if (reply.version < anchoredBefore) throw new StorageRollbackError();
    const anchored = this.#anchorVersions[page] ?? 0;
    if (!reply.found) {
      const empty = { version: 0, page: WatermarkPage.empty(page) };
      this.#cachePage(empty);
      return empty;
    }
    let opened: WatermarkPage;
    try {
      const keyring = this.#keyring();
      opened = WatermarkPage.decode(page, openRecord({ keyring, owner: WATERMARK_OWNER, record: recordId, version: reply.version, sealed: reply.blob }));
    } catch (error) {
      if (error instanceof StorageIntegrityError || error instanceof WatermarkPageError) throw new StorageIntegrityApiError();
      throw error;
    }
    const tag = reply.blob.subarray(reply.blob.length - TAG_BYTES);
    // One version of a page is one blob: another at an anchored version is a fork.
    if (reply.version === anchored && !this.#anchorTags.subarray(page * TAG_BYTES, (page + 1) * TAG_BYTES).equals(tag)) throw new StorageRollbackError();
    this.#anchor(page, reply.version, tag);
    const view = { version: reply.version, page: opened };
    this.#cachePage(view);
    return view;
  }

  #anchor(page: number, version: number, tag: Buffer): void {
    if (version < (this.#anchorVersions[page] ?? 0)) return;
    this.#anchorVersions[page] = version;
    tag.copy(this.#anchorTags, page * TAG_BYTES);
  }

  /** Keeps `view` unless a newer view of its page is cached; evicts the oldest pages past PAGE_CACHE_BYTES. */
  #cachePage(view: PageView): void {
    const page = view.page.page;
    const previous = this.#pageCache.get(page);
    if (previous !== undefined && previous.version > view.version) return;
    if (previous !== undefined) this.#uncachePage(page, previous);
    if (view.page.byteLength > this.#pageCacheLimit || this.#pageCacheLimit === 0) return;
    this.#pageCache.set(page, view);
    this.#pageCacheBytes += view.page.byteLength;
    for (const [oldest, cached] of this.#pageCache) {
      if (this.#pageCacheBytes <= this.#pageCacheLimit) break;
      this.#uncachePage(oldest, cached);
    }
  }

  #uncachePage(page: number, view: PageView): void {
    if (this.#pageCache.get(page) !== view) return;
    this.#pageCache.delete(page);
    this.#pageCacheBytes -= view.page.byteLength;
  }
}
