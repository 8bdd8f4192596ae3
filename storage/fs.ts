/**
 * Filesystem backends: rows as small JSON files and blobs as content-addressed
 * files under one root directory, safe for several processes sharing it.
 *
 * Layout of a root (both backends may share one):
 *
 * ```text
 * <root>/.lock                       flock'd exclusively by every commit
 * <root>/rows/<seg>/<seg>.json        one file per row: {"stamp": …, "value": …}
 * <root>/rows/<seg>/.index/           the ordered index of a level of more than 64 parts
 * <root>/rows_layout.json             {"layout": 2}: every large level is indexed
 * <root>/journal/<stamp>.json         redo journal of the commit in progress
 * <root>/blobs/ab/<sha256>            one file per blob, fanned out by 2 hex digits
 * <root>/tmp/                         temp files, renamed into place when complete
 * ```
 *
 * **Key encoding.** Each key part becomes one path segment that keeps only
 * `[a-z0-9_~@+-]` as is and writes every other UTF-8 byte as `%XX` (uppercase
 * hex), so segments never contain `/`, `\`, `.`, uppercase letters, or
 * anything a filesystem treats specially; `.` and `..` cannot occur, case-
 * insensitive filesystems (macOS, Windows) cannot fold two keys together, and
 * Windows device names (`con`, `nul`, …) get their first letter escaped. The
 * empty part is `%`. Row files end in `.json` and directory segments never
 * contain a dot, so a key's file and its extensions' directory coexist
 * (`rows/a.json` and `rows/a/b.json`). A part whose encoding exceeds 200 bytes
 * is split into nested chunks, each but the last ending in `%+` (an escape
 * that encoding never produces), so long but legal names still fit the 255-byte
 * name limit. Keys whose encoded path exceeds 3,500 bytes are refused with a
 * `RangeError` (the longest legal version key is about 1,000). Every path is
 * resolved and checked to lie under its root before use.
 *
 * **Commits.** A commit takes an in-process mutex (so waiting commits do not
 * pin threads of the blocking pool) and then `flock` on `<root>/.lock`, which
 * the kernel releases when a process dies: no stale locks. Under the lock it
 * replays any leftover journal, checks every `check`, writes a redo journal of
 * the whole commit (temp file + rename; skipped when the commit writes a single
 * row, as one rename is atomic by itself), creates rows whose check is "absent"
 * exclusively (temp file + hard link, which fails if the file exists), writes
 * the others by temp file + rename (up to 16 at once: distinct rows, and the
 * journal already holds them all), deletes, and finally removes the journal.
 * A commit interrupted by a crash is completed by the next commit or `open`.
 * Readers take no lock: each row read is atomic (never torn), but a reader
 * racing a commit may see some of its rows before others; every check is made
 * under the lock, so commits stay serialisable.
 *
 * **Listing.** A page walks the row tree in key order and stops one row past
 * the page. A level (the parts directly under one key prefix) of more than 64
 * parts carries an ordered index (`storage/_fs_index.ts`): a root naming
 * sorted leaves of up to 512 parts, each part flagged with whether it has a
 * row and rows below it. A page seeks to the cursor's part in each level it
 * enters and reads the root, the leaves it passes and its own rows, so its
 * cost does not grow with the level (the root holds one entry per leaf: a
 * million-part level's root is about 2,000 entries). A smaller level is read
 * from its directory, which costs no more. The index is kept under the
 * commit lock: an entry is added before its row or directory is created and
 * removed after they are gone, so after any crash it covers what is on disk
 * (an entry whose row was never written reads as missing). Each index file is
 * replaced by rename; a reader that meets a leaf replaced meanwhile re-reads
 * the root and resumes after the last part it saw. A store written before
 * levels had indexes is indexed once when it is opened, with a message, and
 * `rows_layout.json` records it; a layout from a newer program is refused.
 *
 * **Durability.** With `sync: false` (the default) nothing is fsync'd: a
 * process crash loses nothing committed (the page cache survives), a power
 * loss may lose recent commits. With `sync: true` temp files, the journal and
 * every touched directory are fsync'd before a commit returns.
 *
 * **Blobs.** `put` streams to a temp file while hashing and enforcing
 * `maxBytes`, then renames into place. `get` verifies the digest of a full read
 * while streaming and errors the stream with `blob_corrupt` instead of
 * delivering its last chunk when the bytes do not match. A file that verified
 * is remembered in process by its identity (inode, size, mtime, ctime) and not
 * hashed again until that identity changes; a range read of a file not yet
 * verified hashes the whole file first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FsBundleStorage, FsRegistryStorage } from "./fs.ts";
 * const root = await Deno.makeTempDir();
 * const rows = await FsRegistryStorage.open({ root });
 * const blobs = await FsBundleStorage.open({ root });
 * try {
 *   await rows.commit({ checks: [], mutations: [{ type: "set", key: ["a", "b"], value: 1 }] });
 *   assert.ok((await rows.get(["a", "b"]))?.value === 1);
 *   const info = await blobs.put(new TextEncoder().encode("hi"));
 *   assert.ok((await blobs.stat(info.sha256))?.size === 2);
 * } finally {
 *   await rows.close();
 *   await blobs.close();
 *   await Deno.remove(root, { recursive: true });
 * }
 * ```
 *
 * @module
 */
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { incrementalHash } from "../base/digest.ts";
import { assertSha256, isSha256, SHA256_RE } from "../base/names.ts";
import {
  afterKey,
  assertCommit,
  assertKey,
  blobCursorAfter,
  compareKeys,
  compareParts,
  encodeCursor,
  encodeValue,
  hasPrefix,
  pageLimit,
} from "./_common.ts";
import { HAS_CHILDREN, HAS_ROW, INDEX_DIR, type LevelEntry, LevelIndex } from "./_fs_index.ts";
import {
  inParallel,
  isNotFound,
  randomHex,
  readJsonFile,
  removeQuietly,
  syncDir,
  writeTemp,
} from "./_fs_io.ts";
import { assertRange, blobCorrupt, digestMismatch, tooLarge } from "./memory.ts";
import type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  PutBlobOptions,
  PutBlobResult,
  RegistryStorage,
  RowKey,
} from "./types.ts";

const encoder = new TextEncoder();

/** Longest single path segment written (filesystems allow 255 bytes). */
const MAX_SEGMENT = 200;
/** Longest encoded row path below `rows/` (PATH_MAX is 4,096 on Linux). */
const MAX_ROW_PATH = 3500;
/** Suffix of a segment continued in the next directory level. */
const CONTINUED = "%+";
/**
 * File operations of one commit in flight at once (rows, index levels): each
 * is a round trip to the blocking pool, so a commit of many rows waits for
 * the slowest of a few instead of the sum of all.
 */
const FS_PARALLEL = 16;
/** Suffix of row files. */
const ROW_SUFFIX = ".json";
/** Bytes read per chunk when streaming a blob. */
const READ_CHUNK = 256 * 1024;
/** Temp files older than this are swept on open (a put may be slow, so be generous). */
const TMP_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/**
 * At most this many verified blob identities are remembered per process
 * (about 300 bytes each: 3 MB at most, whatever the store's size).
 */
const MAX_VERIFIED = 10_000;
/**
 * Only blobs larger than one read chunk are remembered: a smaller one is
 * hashed in the one read that serves it (a fraction of a millisecond), and
 * remembering every small blob made memory grow with the blobs read (an export
 * of 100,000 versions remembered 100,000 paths).
 */
const VERIFY_MEMO_MIN_SIZE = READ_CHUNK;

const ALL_LITERAL = /^[a-z0-9_~@+-]+$/;
const ENCODED = /^(?:[a-z0-9_~@+-]|%[0-9A-F]{2})+$/;
/** Whole escapes (left alone unless `@`/`+`) or single characters to escape. */
const ESCAPE_FIXUPS = /%[0-9A-F]{2}|[A-Z.!*'()]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/;

function hex2(byte: number): string {
  return "%" + byte.toString(16).toUpperCase().padStart(2, "0");
}

/**
 * Encode one key part as a single safe path segment (before chunking). The
 * map is injective: {@linkcode decodeKeyPart} inverts it, and any other name
 * decodes to `null`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKeyPart, encodeKeyPart } from "./fs.ts";
 * assert.ok(encodeKeyPart("..") === "%2E%2E");
 * assert.ok(decodeKeyPart(encodeKeyPart("a/B")) === "a/B");
 * ```
 */
export function encodeKeyPart(part: string): string {
  if (part === "") return "%";
  let out: string;
  if (ALL_LITERAL.test(part)) {
    out = part;
  } else {
    if (!part.isWellFormed()) {
      throw new RangeError(`Cannot store key part '${part.slice(0, 40)}': it is not valid Unicode`);
    }
    // The native encoder, then: escape what it leaves but we do not keep
    // (uppercase, `.`, `!*'()`), and unescape `@` and `+`, which we keep.
    out = encodeURIComponent(part).replace(
      ESCAPE_FIXUPS,
      (m) => m === "%40" ? "@" : m === "%2B" ? "+" : m.length === 1 ? hex2(m.charCodeAt(0)) : m,
    );
  }
  // `con`, `nul`… are device names on Windows, with or without an extension.
  if (WINDOWS_DEVICE.test(out)) out = hex2(out.charCodeAt(0)) + out.slice(1);
  return out;
}

/** Invert {@linkcode encodeKeyPart}; `null` for any name it would not produce. */
export function decodeKeyPart(segment: string): string | null {
  if (segment === "%") return "";
  if (ALL_LITERAL.test(segment)) return WINDOWS_DEVICE.test(segment) ? null : segment;
  if (!ENCODED.test(segment)) return null;
  let part: string;
  try {
    part = decodeURIComponent(segment);
  } catch {
    return null; // not UTF-8
  }
  // Only the canonical spelling counts, so two names never decode to one key.
  return encodeKeyPart(part) === segment ? part : null;
}

/** The directory segments of one key part: one, or several chunks when long. */
function partSegments(part: string): string[] {
  const encoded = encodeKeyPart(part);
  if (encoded.length <= MAX_SEGMENT) return [encoded];
  const chunks: string[] = [];
  let rest = encoded;
  const room = MAX_SEGMENT - CONTINUED.length;
  while (rest.length > MAX_SEGMENT) {
    let cut = room;
    // Never split a %XX escape.
    const pct = rest.lastIndexOf("%", cut - 1);
    if (pct > cut - 3) cut = pct;
    chunks.push(rest.slice(0, cut) + CONTINUED);
    rest = rest.slice(cut);
  }
  chunks.push(rest);
  return chunks;
}

/** Resolve `path` and prove it lies strictly under `base`. */
function inside(base: string, path: string): string {
  const full = resolve(path);
  const rel = relative(base, full);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new RangeError(`Cannot use path '${path}': it is outside '${base}'`);
  }
  return full;
}

/** A FIFO async mutex. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.#tail;
    this.#tail = prev.then(() => next);
    await prev;
    return release;
  }
}

/** One mutex per root directory in this process, shared by every instance on it. */
const mutexes = new Map<string, Mutex>();

let stampCounter = 0;
/** A unique stamp: time (base 36), a process-local counter and random bits. */
function newStamp(): string {
  const counter = (stampCounter++ % 36 ** 6).toString(36).padStart(6, "0");
  return `${Date.now().toString(36).padStart(9, "0")}-${counter}-${randomHex(6)}`;
}

async function mkdirs(root: string, names: string[]): Promise<string> {
  await Deno.mkdir(root, { recursive: true });
  const real = await Deno.realPath(root);
  for (const name of names) await Deno.mkdir(join(real, name), { recursive: true });
  return real;
}

/** Whether a file exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Remove temp files left by crashed writers long ago. */
async function sweepTmp(tmpDir: string): Promise<void> {
  const cutoff = Date.now() - TMP_MAX_AGE_MS;
  try {
    for await (const e of Deno.readDir(tmpDir)) {
      if (!e.isFile) continue;
      const path = join(tmpDir, e.name);
      try {
        const st = await Deno.lstat(path);
        if ((st.mtime?.getTime() ?? Infinity) < cutoff) await Deno.remove(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Options of {@linkcode FsRegistryStorage.open}. */
export interface FsRegistryStorageOptions {
  /** The directory holding the store; created if missing. */
  root: string;
  /** fsync files and directories before a commit returns (default `false`). */
  sync?: boolean;
  /**
   * Most entries one leaf of a level's ordered index holds before it splits
   * (default 512). Small values exercise splits in tests.
   */
  indexLeafSize?: number;
  /** Where the one-time indexing of a store written by an earlier version is announced (default `console.warn`). */
  log?: (message: string) => void;
}

/** The layout of the row tree this version writes: 2 = every level carries an ordered index. */
const ROWS_LAYOUT = 2;
/** The file (under the root) that records the row tree's layout once it is indexed. */
const LAYOUT_FILE = "rows_layout.json";
/** Default entries per index leaf: a leaf is about 20 KiB of JSON. */
const INDEX_LEAF_SIZE = 512;
/** A level holding more parts than this gets an index; a smaller one is read from its directory. */
const INDEX_AT = 64;

/** One planned write of a commit or journal: the row's JSON text, or `null` to delete. */
interface Write {
  key: RowKey;
  json: string | null;
}

/** A directory entry of one key part at one level (file, directory, or both). */
interface LevelNode {
  part: string;
  file: string | null;
  dir: string | null;
}

/**
 * Rows as JSON files under a directory, shared safely by several processes.
 * See the module documentation for the layout and the commit protocol.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FsRegistryStorage } from "./fs.ts";
 * const root = await Deno.makeTempDir();
 * const rows = await FsRegistryStorage.open({ root });
 * try {
 *   const r = await rows.commit({ checks: [{ key: ["a"], stamp: null }], mutations: [{ type: "set", key: ["a"], value: 1 }] });
 *   assert.ok(r.ok);
 *   assert.ok((await rows.get(["a"]))?.value === 1);
 * } finally {
 *   await rows.close();
 *   await Deno.remove(root, { recursive: true });
 * }
 * ```
 */
export class FsRegistryStorage implements RegistryStorage {
  #root: string;
  #rows: string;
  #journal: string;
  #tmp: string;
  #sync: boolean;
  #lockFile: Deno.FsFile;
  #mutex: Mutex;
  #index: LevelIndex;
  #indexAt: number;
  #closed = false;

  private constructor(root: string, lockFile: Deno.FsFile, options: FsRegistryStorageOptions) {
    this.#root = root;
    this.#rows = join(root, "rows");
    this.#journal = join(root, "journal");
    this.#tmp = join(root, "tmp");
    this.#sync = options.sync ?? false;
    const leafSize = options.indexLeafSize ?? INDEX_LEAF_SIZE;
    this.#indexAt = Math.min(INDEX_AT, leafSize);
    this.#index = new LevelIndex({
      tmp: this.#tmp,
      sync: this.#sync,
      leafSize,
      scan: (dir) => this.#scanLevel(dir),
    });
    this.#lockFile = lockFile;
    let mutex = mutexes.get(root);
    if (!mutex) mutexes.set(root, mutex = new Mutex());
    this.#mutex = mutex;
  }

  /** Open (creating if needed) a store at `root`, completing any commit a crash interrupted. */
  static async open(options: FsRegistryStorageOptions): Promise<FsRegistryStorage> {
    const root = await mkdirs(options.root, ["rows", "journal", "tmp"]);
    const lockFile = await Deno.open(join(root, ".lock"), {
      read: true,
      write: true,
      create: true,
    });
    let storage: FsRegistryStorage;
    try {
      storage = new FsRegistryStorage(root, lockFile, options);
      await storage.#locked(() => storage.#upgrade(options.log ?? ((m) => console.warn(m))));
      await sweepTmp(storage.#tmp);
    } catch (err) {
      lockFile.close();
      throw err;
    }
    return storage;
  }

  /** The root directory (resolved). */
  get root(): string {
    return this.#root;
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed FsRegistryStorage");
  }

  /** The path segments of a key below `rows/`. */
  #segments(key: RowKey): string[] {
    const segments = key.flatMap(partSegments);
    const length = segments.reduce((n, s) => n + s.length + 1, 0);
    if (length > MAX_ROW_PATH) {
      throw new RangeError(`Cannot store a key whose encoded path exceeds ${MAX_ROW_PATH} bytes`);
    }
    return segments;
  }

  /** The file of a row, proven to lie under `rows/`. */
  #rowPath(key: RowKey): string {
    const segments = this.#segments(key);
    segments[segments.length - 1] += ROW_SUFFIX;
    return inside(this.#rows, join(this.#rows, ...segments));
  }

  /** The directory holding a prefix's extensions. */
  #prefixDir(prefix: RowKey): string {
    if (prefix.length === 0) return this.#rows;
    return inside(this.#rows, join(this.#rows, ...this.#segments(prefix)));
  }

  async #readRow<T>(key: RowKey, path: string): Promise<Entry<T> | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const row = JSON.parse(text) as { stamp: string; value: T };
    return { key: [...key], value: row.value, stamp: row.stamp };
  }

  async get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    this.#assertOpen();
    assertKey(key);
    return await this.#readRow<T>(key, this.#rowPath(key));
  }

  async getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    this.#assertOpen();
    if (keys.length > 10) throw new RangeError("Cannot read more than 10 keys at once");
    keys.forEach(assertKey);
    const paths = keys.map((k) => this.#rowPath(k));
    return await Promise.all(keys.map((k, i) => this.#readRow<T>(k, paths[i]!)));
  }

  /**
   * The entries of one directory level, by decoded key part. Chunk directories
   * of long parts are followed and joined; names that are not the canonical
   * encoding of some part (strays, temp files) are ignored.
   */
  async #readLevel(dir: string): Promise<LevelNode[]> {
    const nodes = new Map<string, LevelNode>();
    const collect = async (path: string, chunks: string[]): Promise<void> => {
      const entries: Deno.DirEntry[] = [];
      try {
        for await (const e of Deno.readDir(path)) entries.push(e);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        if (e.isDirectory && e.name.endsWith(CONTINUED)) {
          await collect(`${path}${sep}${e.name}`, [...chunks, e.name]);
          continue;
        }
        let base: string;
        if (e.isFile && e.name.endsWith(ROW_SUFFIX)) base = e.name.slice(0, -ROW_SUFFIX.length);
        else if (e.isDirectory) base = e.name;
        else continue;
        const segments = [...chunks, base];
        const part = decodeKeyPart(
          chunks.length === 0 ? base : segments.map((s) => s.replace(/%\+$/, "")).join(""),
        );
        // Only the canonical spelling and chunking count, so no two names hold one key.
        if (part === null) continue;
        if (
          (chunks.length > 0 || base.length > MAX_SEGMENT) &&
          partSegments(part).join("/") !== segments.join("/")
        ) continue;
        const node = nodes.get(part) ?? { part, file: null, dir: null };
        if (e.isFile) node.file = `${path}${sep}${e.name}`;
        else node.dir = `${path}${sep}${e.name}`;
        nodes.set(part, node);
      }
    };
    await collect(dir, []);
    return [...nodes.values()];
  }

  async list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    this.#assertOpen();
    const limit = pageLimit(options);
    const reverse = options?.reverse ?? false;
    const after = afterKey(options);
    if (!Array.isArray(prefix) || prefix.some((p) => typeof p !== "string")) {
      throw new TypeError("Cannot list with a prefix that is not a tuple of strings");
    }
    let prefixDir: string;
    try {
      prefixDir = this.#prefixDir(prefix);
    } catch (err) {
      // A prefix no key can have (too long to store) has no rows.
      if (err instanceof RangeError) return { items: [] };
      throw err;
    }
    const want = limit + 1;
    const found: { key: RowKey; file: string }[] = [];
    const wanted = (key: RowKey) =>
      after === undefined || (reverse ? compareKeys(key, after) < 0 : compareKeys(key, after) > 0);
    const addFile = (key: RowKey, flags: number) => {
      if ((flags & HAS_ROW) === 0 || found.length >= want || !wanted(key)) return;
      found.push({ key, file: this.#rowPath(key) });
    };
    // Walk the level indexes in key order, each from the cursor's part at its
    // depth (a seek, not a scan), stopping once one row more than a page is known.
    const walk = async (dir: string, path: RowKey): Promise<void> => {
      const from = after !== undefined && hasPrefix(after, path) ? after[path.length] : undefined;
      for await (const [part, flags] of this.#index.entries(dir, { from, reverse })) {
        if (found.length >= want) return;
        const key = [...path, part];
        // Backwards, a key at or past the cursor that is not a prefix of it
        // has nothing before the cursor: its subtree lies wholly after it.
        if (
          reverse && after !== undefined && !hasPrefix(after, key) && compareKeys(key, after) >= 0
        ) continue;
        if (!reverse) addFile(key, flags);
        if (flags & HAS_CHILDREN) await walk(this.#prefixDir(key), key);
        if (reverse) addFile(key, flags);
      }
    };
    // As in Deno KV, the prefix key itself is not listed: only its extensions.
    await walk(prefixDir, prefix);

    const page = found.slice(0, limit);
    const rows = await Promise.all(page.map((f) => this.#readRow<T>(f.key, f.file)));
    // A row deleted since the walk is simply absent from this page.
    const items = rows.filter((r): r is Entry<T> => r !== null);
    return found.length > limit
      ? { items, cursor: encodeCursor(page[page.length - 1]!.key) }
      : { items };
  }

  /** Run `fn` holding this process's mutex for the root and the cross-process flock. */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.#mutex.lock();
    try {
      await this.#lockFile.lock(true);
      try {
        await this.#replay();
        return await fn();
      } finally {
        await this.#lockFile.unlock();
      }
    } finally {
      release();
    }
  }

  async #readStamp(key: RowKey): Promise<string | null> {
    return (await this.#readRow(key, this.#rowPath(key)))?.stamp ?? null;
  }

  /** Move a finished temp file onto `target`, creating parent directories on demand. */
  async #renameInto(tmp: string, target: string, dirs: Set<string>): Promise<void> {
    const parent = resolve(target, "..");
    try {
      await Deno.rename(tmp, target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await Deno.mkdir(parent, { recursive: true });
      await Deno.rename(tmp, target);
    }
    dirs.add(parent);
  }

  /** Link a finished temp file to `target` only if `target` does not exist. */
  async #createInto(tmp: string, target: string, dirs: Set<string>): Promise<boolean> {
    const parent = resolve(target, "..");
    const link = async () => {
      try {
        await Deno.link(tmp, target);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await Deno.mkdir(parent, { recursive: true });
        await Deno.link(tmp, target);
      }
    };
    try {
      await link();
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      // No hard links on this filesystem: the check already ran under the lock.
      await this.#renameInto(tmp, target, dirs);
      return true;
    }
    await Deno.remove(tmp);
    dirs.add(parent);
    return true;
  }

  /** Delete a row file, then its index entry and the levels it leaves empty. */
  async #deleteRow(key: RowKey, dirs: Set<string>): Promise<void> {
    const target = this.#rowPath(key);
    try {
      await Deno.remove(target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // Also when the file was missing: a crash may have left its entry behind.
    await this.#unindex(key, HAS_ROW);
    dirs.add(resolve(target, ".."));
  }

  /**
   * Index rows about to be created, before they are (so the index always
   * covers the disk): one update per level, the levels side by side (each is
   * its own files). A level without an index is its directory: a new one
   * needs its entry in the level above first (one batch per depth, after
   * this depth's updates, so no two updates of one level overlap), and one
   * outgrowing `indexAt` gets its index after that.
   */
  async #ensure(keys: readonly RowKey[], flag: number): Promise<void> {
    const levels = new Map<string, { prefix: RowKey; parts: string[] }>();
    for (const key of keys) {
      const prefix = key.slice(0, -1);
      const id = JSON.stringify(prefix);
      const level = levels.get(id) ?? { prefix, parts: [] };
      level.parts.push(key[key.length - 1]!);
      levels.set(id, level);
    }
    const unindexed = (await inParallel([...levels.values()], FS_PARALLEL, async (level) => {
      const dir = this.#prefixDir(level.prefix);
      if ((await this.#index.add(dir, level.parts, flag)) === "ok") return null;
      return { ...level, dir, entries: await this.#scanLevel(dir) };
    })).filter((level) => level !== null);
    const fresh = unindexed.filter((l) => l.entries.length === 0 && l.prefix.length > 0);
    if (fresh.length > 0) await this.#ensure(fresh.map((l) => l.prefix), HAS_CHILDREN);
    const outgrown = unindexed.filter((l) =>
      new Set([...l.entries.map(([p]) => p), ...l.parts]).size > this.#indexAt
    );
    await inParallel(outgrown, FS_PARALLEL, async ({ dir, parts }) => {
      // Read again: the batch above may have added to this level.
      const merged = new Map(await this.#scanLevel(dir));
      for (const part of parts) merged.set(part, (merged.get(part) ?? 0) | flag);
      await this.#index.create(dir, [...merged].sort((a, b) => compareParts(a[0], b[0])));
    });
  }

  /** The parts of a level read from its directory, sorted, with what each has on disk. */
  async #scanLevel(dir: string): Promise<LevelEntry[]> {
    const nodes = await this.#readLevel(dir);
    nodes.sort((a, b) => compareParts(a.part, b.part));
    return nodes.map((n) => [n.part, (n.file ? HAS_ROW : 0) | (n.dir ? HAS_CHILDREN : 0)]);
  }

  /**
   * Take the flag `flag` from `key`'s index entry once its row or directory
   * is gone; a level left empty loses its directory and, in turn, its entry
   * in the level above.
   */
  async #unindex(key: RowKey, flag: number): Promise<void> {
    const prefix = key.slice(0, -1);
    const dir = this.#prefixDir(prefix);
    const part = key[key.length - 1]!;
    // The chunk directories of a long part go once nothing is left in them.
    const chunks = partSegments(part);
    for (let n = chunks.length - 1; n > 0; n--) {
      if (!(await removeQuietly(join(dir, ...chunks.slice(0, n))))) break;
    }
    const left = await this.#index.remove(dir, part, flag);
    if (left === "kept" || prefix.length === 0) return;
    // The level is empty once its index is (a stray file may keep the
    // directory, never its entry), or, without an index, once it can be removed.
    if (!(await removeQuietly(dir)) && left === "no-level") return;
    await this.#unindex(prefix, HAS_CHILDREN);
  }

  /**
   * Index a store written before levels carried indexes (once, under the
   * lock; an interrupted run starts again on the next open), then record
   * the layout.
   */
  async #upgrade(log: (message: string) => void): Promise<void> {
    const marker = join(this.#root, LAYOUT_FILE);
    const layout = await readJsonFile<{ layout?: unknown }>(marker);
    if (layout !== null) {
      if (layout.layout === ROWS_LAYOUT) return;
      throw new Error(
        `Could not open the fs store '${this.#root}': its row layout is ${
          JSON.stringify(layout.layout)
        }, this program reads ${ROWS_LAYOUT} (a newer program wrote it)`,
      );
    }
    let empty = true;
    for await (const _ of Deno.readDir(this.#rows)) {
      empty = false;
      break;
    }
    if (!empty) {
      log(
        `fs store '${this.#root}': indexing the rows of an earlier version for ordered listing (once)`,
      );
      const started = performance.now();
      const rows = await this.#indexTree(this.#rows);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      log(`fs store '${this.#root}': indexed ${rows} rows in ${seconds} s`);
    }
    const tmp = await writeTemp(
      this.#tmp,
      encoder.encode(JSON.stringify({ layout: ROWS_LAYOUT })),
      this.#sync,
    );
    await Deno.rename(tmp, marker);
    if (this.#sync) await syncDir(this.#root);
  }

  /** Index every level over `indexAt` parts at and below `dir`; answers the rows found. */
  async #indexTree(dir: string): Promise<number> {
    const nodes = await this.#readLevel(dir);
    nodes.sort((a, b) => compareParts(a.part, b.part));
    const entries: LevelEntry[] = [];
    let rows = 0;
    for (const node of nodes) {
      const below = node.dir === null ? 0 : await this.#indexTree(node.dir);
      const flags = (node.file === null ? 0 : HAS_ROW) | (below > 0 ? HAS_CHILDREN : 0);
      rows += below + (node.file === null ? 0 : 1);
      if (flags !== 0) entries.push([node.part, flags]);
    }
    if (entries.length > this.#indexAt) await this.#index.create(dir, entries);
    else await Deno.remove(join(dir, INDEX_DIR), { recursive: true }).catch(() => {});
    return rows;
  }

  #rowText(stamp: string, json: string): Uint8Array {
    return encoder.encode(`{"stamp":${JSON.stringify(stamp)},"value":${json}}`);
  }

  /**
   * Apply writes by overwrite (journal replay, and rows not checked as
   * absent). Writes touch distinct keys, so their order is free: deletes go
   * first, so none can remove a directory a new row is about to need.
   */
  async #apply(stamp: string, writes: readonly Write[], dirs: Set<string>): Promise<void> {
    for (const w of writes) if (w.json === null) await this.#deleteRow(w.key, dirs);
    const sets = writes.filter((w) => w.json !== null);
    // A row on disk is indexed already (entries go in first): index only new rows.
    const onDisk = await inParallel(sets, FS_PARALLEL, (w) => exists(this.#rowPath(w.key)));
    await this.#ensure(sets.filter((_, i) => !onDisk[i]).map((w) => w.key), HAS_ROW);
    // Distinct rows, each replaced by its own rename: their order is free
    // (the journal, written before, makes the whole commit redo-able).
    await inParallel(sets, FS_PARALLEL, async (w) => {
      const tmp = await writeTemp(this.#tmp, this.#rowText(stamp, w.json!), this.#sync);
      await this.#renameInto(tmp, this.#rowPath(w.key), dirs);
    });
  }

  async #syncDirs(dirs: Set<string>): Promise<void> {
    if (!this.#sync) return;
    for (let dir of dirs) {
      // A directory a delete emptied is gone: its nearest surviving parent holds the change.
      while (dir.startsWith(this.#rows) && !(await exists(dir))) dir = resolve(dir, "..");
      await syncDir(dir);
    }
  }

  /** Complete every journaled commit (idempotent: each write overwrites). */
  async #replay(): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(this.#journal)) {
      if (e.isFile && /^[0-9a-z-]+\.json$/.test(e.name)) names.push(e.name);
    }
    for (const name of names.sort()) {
      const path = join(this.#journal, name);
      let journal: { stamp: string; writes: Write[] };
      try {
        journal = JSON.parse(await Deno.readTextFile(path));
        if (typeof journal.stamp !== "string" || !Array.isArray(journal.writes)) throw new Error();
        for (const w of journal.writes) {
          assertKey(w.key);
          this.#rowPath(w.key);
          if (w.json !== null && typeof w.json !== "string") throw new Error();
        }
      } catch {
        // Only an fsync-less power loss can leave a torn journal; keep it for an operator.
        await Deno.rename(path, `${path}.corrupt`);
        continue;
      }
      const dirs = new Set<string>();
      await this.#apply(journal.stamp, journal.writes, dirs);
      await this.#syncDirs(dirs);
      await Deno.remove(path);
      if (this.#sync) await syncDir(this.#journal);
    }
  }

  async commit(commit: Commit): Promise<CommitResult> {
    this.#assertOpen();
    assertCommit(commit);
    // The last mutation of a key wins; keys are independent of each other.
    const byPath = new Map<string, Write>();
    for (const m of commit.mutations) {
      const path = this.#rowPath(m.key);
      byPath.delete(path);
      byPath.set(path, { key: m.key, json: m.type === "set" ? encodeValue(m.value) : null });
    }
    const absent = new Set(
      commit.checks.filter((c) => c.stamp === null).map((c) => this.#rowPath(c.key)),
    );
    return await this.#locked(async () => {
      for (const check of commit.checks) {
        if ((await this.#readStamp(check.key)) !== check.stamp) return { ok: false };
      }
      const stamp = newStamp();
      if (byPath.size === 0) return { ok: true, stamp };

      // One write is atomic by itself (a rename, link or unlink): no journal.
      const journal = byPath.size === 1 ? null : join(this.#journal, `${stamp}.json`);
      if (journal !== null) {
        const writes = [...byPath.values()];
        const journalBytes = encoder.encode(JSON.stringify({ stamp, writes }));
        const journalTmp = await writeTemp(this.#tmp, journalBytes, this.#sync);
        await Deno.rename(journalTmp, journal);
        if (this.#sync) await syncDir(this.#journal);
      }

      const dirs = new Set<string>();
      // Rows checked as absent are created exclusively (O_EXCL semantics via
      // link): a writer that bypassed the lock cannot be overwritten silently.
      const created: RowKey[] = [];
      const rest: Write[] = [];
      const creates: [string, Write][] = [];
      for (const [path, w] of byPath) {
        if (w.json === null || !absent.has(path)) rest.push(w);
        else creates.push([path, w]);
      }
      // Created first (entries, then files), so a failed create undoes only them.
      await this.#ensure(creates.map(([, w]) => w.key), HAS_ROW);
      for (const [path, w] of creates) {
        const tmp = await writeTemp(this.#tmp, this.#rowText(stamp, w.json!), this.#sync);
        if (await this.#createInto(tmp, path, dirs)) {
          created.push(w.key);
          continue;
        }
        await Deno.remove(tmp);
        for (const done of created) await this.#deleteRow(done, dirs);
        if (journal !== null) await Deno.remove(journal);
        return { ok: false };
      }
      await this.#apply(stamp, rest, dirs);
      await this.#syncDirs(dirs);
      if (journal !== null) {
        await Deno.remove(journal);
        if (this.#sync) await syncDir(this.#journal);
      }
      return { ok: true, stamp };
    });
  }

  /** Same as {@linkcode FsRegistryStorage.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Wait for a commit of this process in flight, then let go of the lock file.
    const release = await this.#mutex.lock();
    try {
      this.#lockFile.close();
    } finally {
      release();
    }
  }
}

/** Options of {@linkcode FsBundleStorage.open}. */
export interface FsBundleStorageOptions {
  /** The directory holding `blobs/` and `tmp/`; created if missing. */
  root: string;
  /** fsync blob files and their directory before `put` returns (default `false`). */
  sync?: boolean;
  /** Dates `touchedAt` (the file's mtime); injected for GC tests. */
  now?: () => Date;
}

/** Verified blob identities of this process, by file path (oldest evicted first). */
const verified = new Map<string, string>();

function identity(st: Deno.FileInfo): string {
  return `${st.ino}:${st.size}:${st.mtime?.getTime()}:${st.ctime?.getTime()}`;
}

function rememberVerified(path: string, id: string, size: number): void {
  if (size <= VERIFY_MEMO_MIN_SIZE) return;
  verified.delete(path);
  verified.set(path, id);
  if (verified.size > MAX_VERIFIED) verified.delete(verified.keys().next().value!);
}

/** Read the rest of `file` into a hash; answers the digest and the bytes read. */
async function hashRest(file: Deno.FsFile): Promise<{ sha256: string; size: number }> {
  const hash = incrementalHash();
  const buf = new Uint8Array(READ_CHUNK);
  let size = 0;
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    size += n;
  }
  return { sha256: hash.hex(), size };
}

/**
 * Blobs as files under `<root>/blobs/ab/<sha256>`, content-addressed, streamed
 * in and out, and shared safely by several processes (every write is a rename
 * of a complete file). See the module documentation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FsBundleStorage } from "./fs.ts";
 * const root = await Deno.makeTempDir();
 * const blobs = await FsBundleStorage.open({ root });
 * try {
 *   const info = await blobs.put(new TextEncoder().encode("hi"));
 *   const body = await blobs.get(info.sha256);
 *   assert.ok(await new Response(body!.stream).text() === "hi");
 * } finally {
 *   await blobs.close();
 *   await Deno.remove(root, { recursive: true });
 * }
 * ```
 */
export class FsBundleStorage implements BundleStorage {
  #blobs: string;
  #tmp: string;
  #sync: boolean;
  #now: () => Date;
  #closed = false;

  private constructor(root: string, options: FsBundleStorageOptions) {
    this.#blobs = join(root, "blobs");
    this.#tmp = join(root, "tmp");
    this.#sync = options.sync ?? false;
    this.#now = options.now ?? (() => new Date());
  }

  /** Open (creating if needed) a blob store at `root`. */
  static async open(options: FsBundleStorageOptions): Promise<FsBundleStorage> {
    const root = await mkdirs(options.root, ["blobs", "tmp"]);
    const storage = new FsBundleStorage(root, options);
    await sweepTmp(storage.#tmp);
    return storage;
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed FsBundleStorage");
  }

  /** The directory holding the blob files (`<root>/blobs`). */
  get blobsDir(): string {
    return this.#blobs;
  }

  /** Test hook: overwrite a stored blob's bytes in place, as disk rot would. */
  async tamperForTest(sha256: string, bytes: Uint8Array): Promise<void> {
    const path = this.#path(sha256);
    await Deno.writeFile(path, bytes);
    // Make the change visible to the verified-identity cache even within one clock tick.
    await Deno.utime(path, new Date(0), new Date(0));
  }

  /** The file of a blob; only ever built from a validated digest. */
  #path(sha256: string): string {
    assertSha256(sha256);
    return inside(this.#blobs, join(this.#blobs, sha256.slice(0, 2), sha256));
  }

  async put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    this.#assertOpen();
    const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    if (body instanceof Uint8Array && body.byteLength > maxBytes) throw tooLarge(maxBytes);
    const tmp = join(this.#tmp, `${randomHex(12)}.part`);
    const file = await Deno.open(tmp, { write: true, createNew: true });
    let open = true;
    try {
      const hash = incrementalHash();
      let size = 0;
      const write = async (chunk: Uint8Array) => {
        hash.update(chunk);
        size += chunk.byteLength;
        let offset = 0;
        while (offset < chunk.byteLength) offset += await file.write(chunk.subarray(offset));
      };
      if (body instanceof Uint8Array) {
        await write(body);
      } else {
        const reader = body.getReader();
        try {
          while (true) {
            const { done, value } = await reader.read();
            if (done) break;
            if (size + value.byteLength > maxBytes) {
              await reader.cancel().catch(() => {});
              throw tooLarge(maxBytes);
            }
            await write(value);
          }
        } finally {
          reader.releaseLock();
        }
      }
      if (this.#sync) await file.sync();
      file.close();
      open = false;
      const sha256 = hash.hex();
      if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
        throw digestMismatch(options.expectedSha256, sha256);
      }
      const target = this.#path(sha256);
      const now = this.#now();
      // Already stored: refresh its mtime (touchedAt) and drop the copy. A file
      // of the wrong size is corrupt, so the fresh bytes replace it.
      const existing = await Deno.stat(target).catch((err) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (existing?.size === size) {
        try {
          await Deno.utime(target, now, now);
          await Deno.remove(tmp);
          return { sha256, size, touchedAt: now.toISOString(), created: false };
        } catch (err) {
          if (!isNotFound(err)) throw err; // swept meanwhile: store ours
        }
      }
      await Deno.utime(tmp, now, now);
      try {
        await Deno.rename(tmp, target);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await Deno.mkdir(join(this.#blobs, sha256.slice(0, 2)), { recursive: true });
        await Deno.rename(tmp, target);
      }
      if (this.#sync) await syncDir(join(this.#blobs, sha256.slice(0, 2)));
      return { sha256, size, touchedAt: now.toISOString(), created: true };
    } catch (err) {
      if (open) file.close();
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  }

  async get(sha256: string, range?: ByteRange): Promise<BlobBody | null> {
    this.#assertOpen();
    if (!isSha256(sha256)) return null;
    const path = this.#path(sha256);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    try {
      const st = await file.stat();
      assertRange(range, st.size);
      const id = identity(st);
      let known = verified.get(path) === id;
      if (range !== undefined && !known) {
        // Never serve part of a blob that was not proven whole: hash it first.
        const whole = await hashRest(file);
        if (whole.sha256 !== sha256 || whole.size !== st.size) {
          file.close();
          const stream = new ReadableStream<Uint8Array>({
            start: (c) => c.error(blobCorrupt(sha256)),
          });
          return { size: st.size, sha256, stream };
        }
        rememberVerified(path, id, st.size);
        known = true;
      }
      if (range !== undefined) await file.seek(range.start, Deno.SeekMode.Start);
      const length = range ? range.end - range.start : st.size;
      const stream = fileStream(file, {
        length,
        sha256,
        verify: !known,
        onVerified: () => rememberVerified(path, id, st.size),
      });
      return { size: st.size, sha256, stream };
    } catch (err) {
      file.close();
      throw err;
    }
  }

  async stat(sha256: string): Promise<BlobInfo | null> {
    this.#assertOpen();
    if (!isSha256(sha256)) return null;
    try {
      const st = await Deno.stat(this.#path(sha256));
      return { sha256, size: st.size, touchedAt: (st.mtime ?? new Date(0)).toISOString() };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(sha256: string): Promise<boolean> {
    this.#assertOpen();
    const path = this.#path(sha256);
    verified.delete(path);
    try {
      await Deno.remove(path);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async list(options?: ListOptions): Promise<Page<BlobInfo>> {
    this.#assertOpen();
    const limit = pageLimit(options);
    const reverse = options?.reverse ?? false;
    const after = blobCursorAfter(options);
    const order = (a: string, b: string) => reverse ? compareParts(b, a) : compareParts(a, b);
    const beyond = (name: string) => after === undefined || (reverse ? name < after : name > after);
    const fans: string[] = [];
    for await (const e of Deno.readDir(this.#blobs)) {
      if (e.isDirectory && /^[0-9a-f]{2}$/.test(e.name)) fans.push(e.name);
    }
    const found: string[] = [];
    for (const fan of fans.sort(order)) {
      if (found.length > limit) break;
      if (after !== undefined && (reverse ? fan > after.slice(0, 2) : fan < after.slice(0, 2))) {
        continue;
      }
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(join(this.#blobs, fan))) {
          if (e.isFile && SHA256_RE.test(e.name) && e.name.startsWith(fan) && beyond(e.name)) {
            names.push(e.name);
          }
        }
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      found.push(...names.sort(order));
    }
    const page = found.slice(0, limit);
    const infos = await Promise.all(page.map((sha) => this.stat(sha)));
    // A blob swept since the walk is simply absent from this page.
    const items = infos.filter((i): i is BlobInfo => i !== null);
    return found.length > limit
      ? { items, cursor: encodeCursor([page[page.length - 1]!]) }
      : { items };
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Same as {@linkcode FsBundleStorage.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Stream `length` bytes of `file` from its current position, closing it at the
 * end, on error and on cancel. With `verify`, hash as it goes and, at the end,
 * error with `blob_corrupt` instead of delivering the last chunk on a mismatch.
 */
function fileStream(
  file: Deno.FsFile,
  options: { length: number; sha256: string; verify: boolean; onVerified: () => void },
): ReadableStream<Uint8Array> {
  let remaining = options.length;
  const hash = options.verify ? incrementalHash() : null;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    file.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (remaining === 0) {
          // Only an empty file gets here; its digest must still be the one asked for.
          close();
          if (hash && hash.hex() !== options.sha256) {
            controller.error(blobCorrupt(options.sha256));
            return;
          }
          if (hash) options.onVerified();
          controller.close();
          return;
        }
        const buf = new Uint8Array(Math.min(READ_CHUNK, remaining));
        const n = await file.read(buf);
        if (n === null) {
          // The file shrank under us.
          close();
          controller.error(blobCorrupt(options.sha256));
          return;
        }
        const chunk = n === buf.byteLength ? buf : buf.subarray(0, n);
        remaining -= n;
        if (hash) hash.update(chunk);
        if (remaining === 0) {
          close();
          if (hash && hash.hex() !== options.sha256) {
            controller.error(blobCorrupt(options.sha256));
            return;
          }
          if (hash) options.onVerified();
          controller.enqueue(chunk);
          controller.close();
          return;
        }
        controller.enqueue(chunk);
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  });
}
