/**
 * The runtime's native hashes (`node:crypto`) and CRC-32 (`node:zlib`),
 * loaded on first use instead of at start-up: importing them costs a start
 * about 40 ms of CPU (docs/bench.md, start-up). Until they have loaded, the
 * callers compute the same values in TypeScript (`_sha2.ts`, `_crc32.ts`).
 *
 * @module
 */
import type * as NodeCrypto from "node:crypto";
import type * as NodeZlib from "node:zlib";
import { lazily } from "./lazy.ts";

let cryptoModule: typeof NodeCrypto | undefined;
let zlibModule: typeof NodeZlib | undefined;

/** Load `node:crypto` and `node:zlib`; later calls share the first load. */
export const loadNative: () => Promise<void> = lazily(async () => {
  const [c, z] = await Promise.all([import("node:crypto"), import("node:zlib")]);
  cryptoModule = c;
  zlibModule = z;
});

function startLoading(): void {
  // A failed load is retried by the next caller; until then TypeScript computes.
  loadNative().catch(() => {});
}

/**
 * `node:crypto` once loaded, else `undefined`; `load` starts loading it (for
 * streams and large inputs: a token or a key is hashed in TypeScript in
 * microseconds, and hashing one at start-up should not load it).
 */
export function nativeCrypto(load = true): typeof NodeCrypto | undefined {
  if (cryptoModule === undefined && load) startLoading();
  return cryptoModule;
}

/** `node:zlib` once loaded, else `undefined`; `load` starts loading it (as {@linkcode nativeCrypto}). */
export function nativeZlib(load = true): typeof NodeZlib | undefined {
  if (zlibModule === undefined && load) startLoading();
  return zlibModule;
}

/**
 * Inputs from this size up start loading the native modules; smaller ones are
 * computed in TypeScript until then (a health check's round trip, a token).
 */
export const LOAD_NATIVE_FROM = 16 * 1024;
