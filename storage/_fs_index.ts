// The ordered index of one level of the fs row tree (storage/fs.ts): the key
// parts found directly under one directory, in key order, so that a page of a
// listing reads only the index pages it needs instead of the whole directory.
// A level gets an index once it holds more than a few dozen parts (`indexAt`);
// a smaller one is read whole from its directory, which costs no more.
//
// Layout, inside the level's own directory (a name with a dot, which no
// encoded key part can have, so it never collides with a row or a part):
//
//   <level>/.index/root.json         {"leaves": [[first part, leaf name], …]}
//   <level>/.index/l<16 hex>.json     {"parts": [[part, flags], …]}  (sorted)
//
// Leaf i holds the parts from its first part (the first leaf: from the very
// start) up to the next leaf's; flags say whether the part has a row here
// (HAS_ROW) and extensions below (HAS_CHILDREN). Every file is written whole
// to a temp file and renamed into place, so a reader (who takes no lock) sees
// each file old or new, never torn. A leaf that only changes is rewritten in
// place; a leaf that splits or empties is replaced by new names under a new
// root, and its old file is removed only after the root no longer names it:
// a reader that meets a missing leaf re-reads the root and resumes after the
// last part it yielded. Writers hold the store's commit lock.
//
// Crash safety comes from the order the backend keeps (storage/fs.ts): an
// entry is added before its row or directory is created and removed after
// they are gone, so the index always covers what is on disk; an entry whose
// row a crash never wrote just reads as missing.
import { join } from "node:path";
import { compareParts } from "./_common.ts";
import {
  isNotFound,
  randomHex,
  readJsonFile,
  removeQuietly,
  syncDir,
  writeTemp,
} from "./_fs_io.ts";

/** Flag: the part has a row at this level. */
export const HAS_ROW = 1;
/** Flag: the part has rows below it (a directory of its own). */
export const HAS_CHILDREN = 2;

/** One entry of a level: a key part and its flags. */
export type LevelEntry = [part: string, flags: number];

/** The directory name of a level's index. */
export const INDEX_DIR = ".index";

interface RootFile {
  leaves: [first: string, name: string][];
}

const ROOT = "root.json";
const LEAF_NAME = /^l[0-9a-f]{16}\.json$/;
/** A reader re-reads a changing root at most this often before giving up. */
const MAX_RESTARTS = 1000;

const encoder = new TextEncoder();

/** The index of the first entry whose part is not below `part`. */
function lowerBound(entries: readonly LevelEntry[], part: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareParts(entries[mid]![0], part) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The leaf whose range holds `part`: the last whose first part is not above it. */
function leafFor(leaves: RootFile["leaves"], part: string): number {
  let lo = 1;
  let hi = leaves.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareParts(leaves[mid]![0], part) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Where a walk of one leaf starts, given the last position (`inclusive`: it may be yielded). */
function startIn(
  parts: readonly LevelEntry[],
  pos: string | undefined,
  reverse: boolean,
  inclusive: boolean,
): number {
  if (pos === undefined) return reverse ? parts.length - 1 : 0;
  const lb = lowerBound(parts, pos);
  const exact = parts[lb]?.[0] === pos;
  if (!reverse) return exact && !inclusive ? lb + 1 : lb;
  return exact && inclusive ? lb : lb - 1;
}

/** Options of a {@linkcode LevelIndex}. */
export interface LevelIndexOptions {
  /** The store's temp directory (same filesystem). */
  tmp: string;
  /** fsync files and directories as they are written. */
  sync: boolean;
  /** Most entries a leaf holds before it splits. */
  leafSize: number;
  /**
   * Every entry of a level without an index, sorted, read from its directory
   * (`[]` when it is missing).
   */
  scan: (dir: string) => Promise<LevelEntry[]>;
}

/** Reads and maintains level indexes (see the file's comment). */
export class LevelIndex {
  #tmp: string;
  #sync: boolean;
  #leafSize: number;
  #scan: (dir: string) => Promise<LevelEntry[]>;

  constructor(options: LevelIndexOptions) {
    if (!Number.isInteger(options.leafSize) || options.leafSize < 2) {
      throw new RangeError(
        `Cannot index with leaves of ${options.leafSize} entries: use 2 or more`,
      );
    }
    this.#tmp = options.tmp;
    this.#sync = options.sync;
    this.#leafSize = options.leafSize;
    this.#scan = options.scan;
  }

  async #readRoot(dir: string): Promise<RootFile | null> {
    const root = await readJsonFile<RootFile>(join(dir, INDEX_DIR, ROOT));
    if (root !== null && (!Array.isArray(root.leaves) || root.leaves.length === 0)) {
      throw new Error(`Could not read the index of '${dir}': its root is malformed`);
    }
    return root;
  }

  /** A leaf's entries, or `null` when it is gone (replaced meanwhile). */
  async #readLeaf(dir: string, name: string): Promise<LevelEntry[] | null> {
    if (!LEAF_NAME.test(name)) {
      throw new Error(`Could not read the index of '${dir}': it names a leaf '${name}'`);
    }
    const leaf = await readJsonFile<{ parts: LevelEntry[] }>(join(dir, INDEX_DIR, name));
    return leaf?.parts ?? null;
  }

  async #write(dir: string, name: string, value: unknown): Promise<void> {
    const tmp = await writeTemp(this.#tmp, encoder.encode(JSON.stringify(value)), this.#sync);
    await Deno.rename(tmp, join(dir, INDEX_DIR, name));
    if (this.#sync) await syncDir(join(dir, INDEX_DIR));
  }

  async #newLeaf(dir: string, parts: LevelEntry[]): Promise<string> {
    const name = `l${randomHex(8)}.json`;
    await this.#write(dir, name, { parts });
    return name;
  }

  /**
   * Write a level's whole index afresh from sorted entries, replacing any
   * index there (a new level, or a migration).
   */
  async create(dir: string, entries: readonly LevelEntry[]): Promise<void> {
    const indexDir = join(dir, INDEX_DIR);
    await Deno.remove(indexDir, { recursive: true }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await Deno.mkdir(indexDir, { recursive: true });
    if (this.#sync) await syncDir(dir);
    const leaves: RootFile["leaves"] = [];
    for (let at = 0; at < Math.max(entries.length, 1); at += this.#leafSize) {
      const chunk = entries.slice(at, at + this.#leafSize);
      leaves.push([at === 0 ? "" : chunk[0]![0], await this.#newLeaf(dir, chunk)]);
    }
    await this.#write(dir, ROOT, { leaves });
  }

  /**
   * Give each of `parts` the flag `flag` (under the commit lock): one read of
   * the root and of each leaf they fall in, one write of each changed leaf,
   * and of the root when leaves split. `"no-level"` when the level has no
   * index: nothing was written, and the caller decides.
   */
  async add(dir: string, parts: readonly string[], flag: number): Promise<"ok" | "no-level"> {
    const root = await this.#readRoot(dir);
    if (root === null) return "no-level";
    const byLeaf = new Map<number, string[]>();
    for (const part of parts) {
      const i = leafFor(root.leaves, part);
      byLeaf.set(i, [...(byLeaf.get(i) ?? []), part]);
    }
    const leaves = [...root.leaves];
    const replaced: string[] = [];
    // Highest leaf first, so the splices below leave the lower indexes valid.
    for (const i of [...byLeaf.keys()].sort((a, b) => b - a)) {
      const [first, name] = root.leaves[i]!;
      const entries = (await this.#readLeaf(dir, name)) ?? [];
      const oldLength = entries.length;
      let changed = false;
      let appendOnly = true;
      for (const part of byLeaf.get(i)!) {
        const at = lowerBound(entries, part);
        const hit = entries[at];
        if (hit !== undefined && hit[0] === part) {
          if ((hit[1] & flag) !== flag) [hit[1], changed] = [hit[1] | flag, true];
          continue;
        }
        entries.splice(at, 0, [part, flag]);
        changed = true;
        if (at < oldLength) appendOnly = false;
      }
      if (!changed) continue;
      if (entries.length <= this.#leafSize) {
        await this.#write(dir, name, { parts: entries });
        continue;
      }
      const pieces = this.#pieces(entries, i === root.leaves.length - 1 && appendOnly, oldLength);
      const made: RootFile["leaves"] = [];
      for (const [k, piece] of pieces.entries()) {
        made.push([k === 0 ? first : piece[0]![0], await this.#newLeaf(dir, piece)]);
      }
      leaves.splice(i, 1, ...made);
      replaced.push(name);
    }
    if (replaced.length > 0) {
      await this.#write(dir, ROOT, { leaves });
      for (const name of replaced) await removeQuietly(join(dir, INDEX_DIR, name));
    }
    return "ok";
  }

  /**
   * Cut an overfull leaf into leaves. Appends at the end of the last leaf
   * (time-ordered ids) keep the old leaf whole and fill new ones; anything
   * else is cut evenly.
   */
  #pieces(entries: LevelEntry[], append: boolean, oldLength: number): LevelEntry[][] {
    const size = this.#leafSize;
    const pieces: LevelEntry[][] = [];
    let at = 0;
    if (append && oldLength > 0) {
      pieces.push(entries.slice(0, oldLength));
      at = oldLength;
    }
    const count = Math.ceil((entries.length - at) / size);
    const each = Math.ceil((entries.length - at) / count);
    for (; at < entries.length; at += each) pieces.push(entries.slice(at, at + each));
    return pieces;
  }

  /**
   * Take the flag `flag` from `part` (under the commit lock), dropping the
   * entry when no flag is left. `"emptied"`: the level is now empty and its
   * index is gone (its directory may go too); `"no-level"`: it has no index.
   */
  async remove(dir: string, part: string, flag: number): Promise<"kept" | "emptied" | "no-level"> {
    const root = await this.#readRoot(dir);
    if (root === null) return "no-level";
    const i = leafFor(root.leaves, part);
    const name = root.leaves[i]![1];
    const parts = (await this.#readLeaf(dir, name)) ?? [];
    const at = lowerBound(parts, part);
    const hit = parts[at];
    if (hit === undefined || hit[0] !== part || (hit[1] & flag) === 0) return "kept";
    hit[1] &= ~flag;
    if (hit[1] === 0) parts.splice(at, 1);
    if (parts.length > 0) {
      await this.#write(dir, name, { parts });
      return "kept";
    }
    if (root.leaves.length > 1) {
      const leaves = root.leaves.filter((_, k) => k !== i);
      leaves[0] = ["", leaves[0]![1]];
      await this.#write(dir, ROOT, { leaves });
      await removeQuietly(join(dir, INDEX_DIR, name));
      return "kept";
    }
    // The root goes first: a reader then finds no index and reads the (empty) directory.
    await Deno.remove(join(dir, INDEX_DIR, ROOT));
    await Deno.remove(join(dir, INDEX_DIR), { recursive: true });
    return "emptied";
  }

  /**
   * The entries of a level in key order (or reversed), starting at `from`
   * (inclusive) when given; reads one root and then one leaf at a time, as
   * far as the caller iterates (a level without an index: its directory).
   * Takes no lock.
   */
  async *entries(
    dir: string,
    options: { from?: string | undefined; reverse: boolean },
  ): AsyncGenerator<LevelEntry> {
    const { reverse } = options;
    let pos = options.from;
    let inclusive = true;
    for (let restart = 0; restart < MAX_RESTARTS; restart++) {
      const root = await this.#readRoot(dir);
      if (root === null) {
        const parts = await this.#scan(dir);
        for (
          let j = startIn(parts, pos, reverse, inclusive);
          j >= 0 && j < parts.length;
          j += reverse ? -1 : 1
        ) yield parts[j]!;
        return;
      }
      const { leaves } = root;
      let i = pos === undefined ? (reverse ? leaves.length - 1 : 0) : leafFor(leaves, pos);
      let gone = false;
      for (; i >= 0 && i < leaves.length; i += reverse ? -1 : 1) {
        const parts = await this.#readLeaf(dir, leaves[i]![1]);
        if (parts === null) {
          gone = true; // split or dropped since the root was read: start over from `pos`
          break;
        }
        for (
          let j = startIn(parts, pos, reverse, inclusive);
          j >= 0 && j < parts.length;
          j += reverse ? -1 : 1
        ) {
          const [part, flags] = parts[j]!;
          pos = part;
          inclusive = false;
          yield [part, flags];
        }
      }
      if (!gone) return;
    }
    throw new Error(`Could not list '${dir}': its index kept changing`);
  }
}
