// The blueprint compiler's worker: esbuild-wasm 0.25.12 (pure WASM, the same
// Go code as the native binary) run in-process inside this module worker, so
// a large transform never blocks the server's event loop and a runaway one is
// ended with `terminate()`. One message in ({source, wasmModule?}), one out.
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

interface Request {
  source: string;
  wasmModule?: WebAssembly.Module;
  wasmURL: string;
}

/** The worker's global scope, typed without the worker lib (checked with the rest). */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<Request>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event: MessageEvent<Request>) => {
  const { source, wasmModule, wasmURL } = event.data;
  try {
    await esbuild.initialize(
      wasmModule ? { wasmModule, worker: false } : { wasmURL, worker: false },
    );
    const out = await esbuild.transform(source, OPTIONS);
    scope.postMessage({ ok: true, code: out.code, version: esbuild.version });
  } catch (err) {
    const e = err as { errors?: { text: string; location?: { line: number; column: number } }[] };
    const first = e.errors?.[0];
    scope.postMessage({
      ok: false,
      message: first?.text ?? (err instanceof Error ? err.message : String(err)),
      ...(first?.location ? { line: first.location.line, column: first.location.column + 1 } : {}),
    });
  }
};
