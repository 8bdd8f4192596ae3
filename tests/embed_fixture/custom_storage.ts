// A user's own row backend: rows in a plain Map keyed by JSON, implementing the
// seam from scratch (not reusing the built-in memory backend), as a custom
// database adapter would.
import type {
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  RegistryStorage,
  RowKey,
} from "@x/registry";
import { LIMITS, RegistryError } from "@x/registry";

const enc = new TextEncoder();
const cmp = (a: string, b: string) => {
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
};
const cmpKey = (a: RowKey, b: RowKey) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = cmp(a[i]!, b[i]!);
    if (c) return c;
  }
  return a.length - b.length;
};

export class MapRowStorage implements RegistryStorage {
  #rows = new Map<string, { key: RowKey; json: string; stamp: string }>();
  #n = 0;

  get<T>(key: RowKey): Promise<Entry<T> | null> {
    const r = this.#rows.get(JSON.stringify(key));
    return Promise.resolve(
      r ? { key: r.key, value: JSON.parse(r.json), stamp: r.stamp } : null,
    );
  }

  async getMany<T>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    return await Promise.all(keys.map((k) => this.get<T>(k)));
  }

  list<T>(prefix: RowKey, options: ListOptions = {}): Promise<Page<Entry<T>>> {
    const limit = options.limit ?? 100;
    if (limit < 1 || limit > LIMITS.pageSize) {
      return Promise.reject(new RangeError("Bad limit"));
    }
    let rows = [...this.#rows.values()]
      .filter((r) => r.key.length > prefix.length && prefix.every((p, i) => r.key[i] === p))
      .sort((a, b) => cmpKey(a.key, b.key));
    if (options.reverse) rows.reverse();
    if (options.cursor !== undefined || options.after !== undefined) {
      let after: RowKey = options.after ?? [];
      try {
        if (options.cursor !== undefined) after = JSON.parse(atob(options.cursor));
      } catch {
        return Promise.reject(
          new RegistryError(
            "invalid_input",
            `Invalid cursor '${options.cursor}'`,
          ),
        );
      }
      rows = rows.filter((r) =>
        options.reverse ? cmpKey(r.key, after) < 0 : cmpKey(r.key, after) > 0
      );
    }
    const items = rows.slice(0, limit).map((r) => ({
      key: r.key,
      value: JSON.parse(r.json) as T,
      stamp: r.stamp,
    }));
    const more = rows.length > limit;
    return Promise.resolve(
      more ? { items, cursor: btoa(JSON.stringify(items.at(-1)!.key)) } : { items },
    );
  }

  commit(commit: Commit): Promise<CommitResult> {
    if (commit.checks.length > LIMITS.checksPerCommit) {
      return Promise.reject(new RangeError("Too many checks"));
    }
    for (const m of commit.mutations) {
      if (
        m.type === "set" &&
        enc.encode(JSON.stringify(m.value)).byteLength > LIMITS.valueBytes
      ) {
        return Promise.reject(new RangeError("Value too large"));
      }
    }
    for (const c of commit.checks) {
      if ((this.#rows.get(JSON.stringify(c.key))?.stamp ?? null) !== c.stamp) {
        return Promise.resolve({ ok: false });
      }
    }
    const stamp = String(++this.#n).padStart(16, "0");
    for (const m of commit.mutations) {
      const id = JSON.stringify(m.key);
      if (m.type === "set") {
        this.#rows.set(id, {
          key: [...m.key],
          json: JSON.stringify(m.value),
          stamp,
        });
      } else this.#rows.delete(id);
    }
    return Promise.resolve({ ok: true, stamp });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
