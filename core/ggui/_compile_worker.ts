// The blueprint compiler's worker: esbuild-wasm 0.25.12 (pure WASM, the same
// Go code as the native binary) run in-process inside this module worker, so
// a large transform never blocks the server's event loop and a runaway one is
// ended with `terminate()`. An init message, then jobs ({id, source}) answered
// one by one; it closes itself when idle.
import * as esbuild from "esbuild-wasm/esm/browser.js";

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

interface Init {
  init: true;
  wasmModule?: WebAssembly.Module;
  wasmURL: string;
  idleMs: number;
}

interface Job {
  id: number;
  source: string;
}

/** The worker's global scope, typed without the worker lib (checked with the rest). */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<Init | Job>) => void;
  postMessage(message: unknown): void;
  close(): void;
};

let ready: Promise<void> | undefined;
let idleMs = 10_000;
let idle: ReturnType<typeof setTimeout> | undefined;

/** Close when idle; say so first, so the host re-runs a job that crossed the close. */
function armIdle(): void {
  clearTimeout(idle);
  idle = setTimeout(() => {
    scope.postMessage({ closing: true });
    scope.close();
  }, idleMs);
}

scope.onmessage = async (event: MessageEvent<Init | Job>) => {
  const data = event.data;
  if ("init" in data) {
    idleMs = data.idleMs;
    ready = esbuild.initialize(
      data.wasmModule
        ? { wasmModule: data.wasmModule, worker: false }
        : { wasmURL: data.wasmURL, worker: false },
    );
    armIdle();
    return;
  }
  clearTimeout(idle);
  try {
    await ready;
    const out = await esbuild.transform(data.source, OPTIONS);
    scope.postMessage({ id: data.id, ok: true, code: out.code, version: esbuild.version });
  } catch (err) {
    const e = err as { errors?: { text: string; location?: { line: number; column: number } }[] };
    const first = e.errors?.[0];
    scope.postMessage({
      id: data.id,
      ok: false,
      message: first?.text ?? (err instanceof Error ? err.message : String(err)),
      ...(first?.location ? { line: first.location.line, column: first.location.column + 1 } : {}),
    });
  }
  armIdle();
};
