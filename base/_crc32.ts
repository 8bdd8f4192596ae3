/**
 * CRC-32 (IEEE 802.3, the zlib/gzip one) in TypeScript, continuing from a
 * previous value as `node:zlib`'s `crc32(data, value)` does: what
 * `storage/kv.ts` checks chunks with until `node:zlib` has loaded
 * (`_native.ts`).
 *
 * @module
 */

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The CRC-32 of `data`, continuing from `value` (the CRC of what came before; 0 to start). */
export function crc32(data: Uint8Array, value = 0): number {
  const t = table ??= makeTable();
  let c = ~value;
  for (let i = 0; i < data.byteLength; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
