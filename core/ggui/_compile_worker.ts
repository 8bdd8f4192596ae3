// The blueprint compiler's worker: esbuild-wasm 0.25.12 (pure WASM, the same
// Go code as the native binary) run in-process inside this module worker, so
// a large transform never blocks the server's event loop and a runaway one is
// ended with `terminate()`. Served as a warm worker (see _warm_worker.ts).
import * as esbuild from "esbuild-wasm/esm/browser.js";
import { serveJobs } from "./_warm_worker.ts";

/** The spec's options (§7): any change here changes every digest. */
const OPTIONS = {
  loader: "tsx",
  format: "esm",
  target: "es2022",
  minify: false,
  treeShaking: false,
  keepNames: true,
  sourcemap: false,
  jsx: "transform",
} as const;

serveJobs(
  async (source: string) => {
    try {
      const out = await esbuild.transform(source, OPTIONS);
      return { ok: true, code: out.code, version: esbuild.version };
    } catch (err) {
      const e = err as { errors?: { text: string; location?: { line: number; column: number } }[] };
      const first = e.errors?.[0];
      return {
        ok: false,
        message: first?.text ?? (err instanceof Error ? err.message : String(err)),
        ...(first?.location
          ? { line: first.location.line, column: first.location.column + 1 }
          : {}),
      };
    }
  },
  // Each worker compiles the WASM itself: a module compiled in another isolate
  // and posted over ran several times slower (no tier-up), measured.
  (init) => esbuild.initialize({ wasmURL: init.wasmURL as string, worker: false }),
);
