// A compact set of SHA-256 digests for garbage collection's live set: the one
// structure of a GC run that grows with the store.
//
// It keeps the first 64 bits of each digest in an open-addressing table of
// 32-bit words, at most half full: 8 bytes per slot, so 16 to 32 bytes per
// referenced blob (about 1.5× that while the table doubles), against some
// 150 bytes for a hex string in a `Set<string>`. Two different digests that
// share their first 64 bits (among a million blobs, a chance of about n²/2^65,
// one in 40 million) only make GC keep an unreferenced blob: a false
// "referenced" is safe, a false "unreferenced" cannot happen. Strings that are
// not hex digests go to a plain set.

const HEX64 = /^[0-9a-f]{16}/;

/** A set of SHA-256 hex digests held as 64-bit prefixes (see the file's comment). */
export class DigestSet {
  #table = new Uint32Array(2 * 1024);
  #size = 0;
  #other = new Set<string>();

  /** How many distinct digests (by their 64-bit prefix) it holds. */
  get size(): number {
    return this.#size + this.#other.size;
  }

  /** Bytes held by the table (what the set costs, about). */
  get bytes(): number {
    return this.#table.byteLength;
  }

  /** Add a digest. */
  add(digest: string): void {
    const words = prefixOf(digest);
    if (words === null) {
      this.#other.add(digest);
      return;
    }
    if (this.#insert(this.#table, words[0], words[1])) this.#size++;
    if (this.#size * 2 > this.#table.length / 2) this.#grow();
  }

  /** Whether a digest (or another with the same 64-bit prefix) was added. */
  has(digest: string): boolean {
    const words = prefixOf(digest);
    if (words === null) return this.#other.has(digest);
    const table = this.#table;
    const mask = table.length / 2 - 1;
    for (let slot = words[1] & mask;; slot = (slot + 1) & mask) {
      const hi = table[2 * slot]!;
      const lo = table[2 * slot + 1]!;
      if (hi === 0 && lo === 0) return false;
      if (hi === words[0] && lo === words[1]) return true;
    }
  }

  /** Insert into `table`; answers whether the prefix was new. */
  #insert(table: Uint32Array, hi: number, lo: number): boolean {
    const mask = table.length / 2 - 1;
    for (let slot = lo & mask;; slot = (slot + 1) & mask) {
      const h = table[2 * slot]!;
      const l = table[2 * slot + 1]!;
      if (h === 0 && l === 0) {
        table[2 * slot] = hi;
        table[2 * slot + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
    }
  }

  #grow(): void {
    const old = this.#table;
    const next = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.#insert(next, old[i]!, old[i + 1]!);
    }
    this.#table = next;
  }
}

/** The first 64 bits of a hex digest as two words (never both zero), or `null`. */
function prefixOf(digest: string): [number, number] | null {
  if (digest.length !== 64 || !HEX64.test(digest)) return null;
  const hi = parseInt(digest.slice(0, 8), 16) >>> 0;
  const lo = parseInt(digest.slice(8, 16), 16) >>> 0;
  // All-zero marks an empty slot: such a prefix shares a slot value with 0:1
  // (a harmless false "referenced", as any collision).
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}
