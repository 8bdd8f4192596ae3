/**
 * Load a module when it is first needed, not at start-up.
 *
 * A server that imports everything it may ever need evaluates it all before
 * its first answer (a Markdown renderer, a TSX parser, sigstore), though most
 * requests never use it. {@linkcode lazily} wraps a dynamic `import()` so the
 * first call starts the load, every later call shares it, and a failed load
 * (a download that failed on a fresh machine) is tried again on the next
 * call instead of failing forever.
 *
 * Keep the specifier a string literal inside the arrow, as in the example:
 * `deno publish`, `deno info` and `deno compile` then still see the module.
 *
 * @module
 */

/**
 * A loader that runs `load` once and shares its promise; after a rejection
 * the next call runs `load` again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lazily } from "./lazy.ts";
 * const names = lazily(() => import("./names.ts"));
 * assert.equal(names(), names());
 * assert.ok((await names()).isVersion("1.0.0"));
 * ```
 */
export function lazily<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((err) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
