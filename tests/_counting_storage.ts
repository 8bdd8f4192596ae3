// Row storage that writes down every read it is asked for (tests only): what a
// request cost the store, to compare the work two requests do.
import type {
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  RegistryStorage,
  RowKey,
} from "../storage/types.ts";

/** One store read: the operation, its keys (or prefix), and how many rows it found. */
export interface StoreRead {
  op: "get" | "getMany" | "list";
  keys: RowKey[];
  found: number;
}

/** Wraps row storage and logs its reads in `reads` (commits pass through unlogged). */
export class CountingRegistryStorage implements RegistryStorage {
  #inner: RegistryStorage;
  /** The reads so far (clear it between requests). */
  reads: StoreRead[] = [];

  constructor(inner: RegistryStorage) {
    this.#inner = inner;
  }

  async get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    const entry = await this.#inner.get<T>(key);
    this.reads.push({ op: "get", keys: [key], found: entry ? 1 : 0 });
    return entry;
  }

  async getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    const entries = await this.#inner.getMany<T>(keys);
    this.reads.push({ op: "getMany", keys: [...keys], found: entries.filter(Boolean).length });
    return entries;
  }

  async list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    const page = await this.#inner.list<T>(prefix, options);
    this.reads.push({ op: "list", keys: [prefix], found: page.items.length });
    return page;
  }

  commit(commit: Commit): Promise<CommitResult> {
    return this.#inner.commit(commit);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
