/**
 * Blueprint compilation (spec §7): esbuild **0.25.12** `transform` with
 * `loader:"tsx", format:"esm", target:"es2022", minify:false,
 * treeShaking:false, keepNames:true, sourcemap:false` and classic JSX.
 * `compiledDigest` is the lowercase hex SHA-256 of the UTF-8 output.
 *
 * The compiler is `esbuild-wasm@0.25.12` (the same Go source as the native
 * binary, compiled to WASM; same output bytes), run inside a module Worker so
 * a large transform never blocks the event loop and a runaway one is ended by
 * `terminate()` at the time limit. One warm worker serves sequential
 * compilations and closes itself after {@linkcode COMPILER_IDLE_MS} idle;
 * concurrent ones get one-off workers. It needs no subprocess and no permission
 * beyond reading the package's `esbuild.wasm` from the npm cache.
 *
 * Compiled blobs are content-addressed in bundle storage (their SHA-256 is
 * the `compiledDigest`) and counted by one row per digest,
 * `{compiledDigest, compiledSize, refCount, createdAt}`, whose `refCount` is
 * raised in the same atomic commit as the version that references it.
 *
 * @module
 */
import { sha256Hex } from "../../base/digest.ts";
import * as keys from "../../storage/keys.ts";
import type { Commit, JsonValue, RegistryStorage } from "../../storage/types.ts";
import type { ConformanceError } from "./conformance.ts";
import { warmWorker } from "./_warm_worker.ts";

/** The esbuild version every digest depends on. */
export const ESBUILD_VERSION = "0.25.12";

/** How long one compilation may run before it is ended. */
export const COMPILE_TIMEOUT_MS = 30_000;

/** A compiled blueprint. */
export interface CompiledBlueprint {
  /** The compiled JavaScript. */
  code: string;
  /** Its UTF-8 bytes. */
  bytes: Uint8Array;
  /** Lowercase hex SHA-256 of `bytes`. */
  digest: string;
}

/** The outcome of {@linkcode compileBlueprint}. */
export type CompileResult =
  | ({ ok: true } & CompiledBlueprint)
  | { ok: false; error: ConformanceError };

/** The compiled-blob row (spec §8.3; the bytes live in bundle storage). */
export interface CompiledBlobRow {
  /** Lowercase hex SHA-256 of the compiled bytes (also their blob digest). */
  compiledDigest: string;
  /** Size in bytes. */
  compiledSize: number;
  /** How many versions reference these bytes. */
  refCount: number;
  /** When the first version referencing them was committed. */
  createdAt: string;
}

const WASM_URL = import.meta.resolve("esbuild-wasm/esbuild.wasm");
interface WorkerReply {
  ok: boolean;
  code?: string;
  version?: string;
  message?: string;
  line?: number;
  column?: number;
}

function compileError(
  message: string,
  position: { line?: number; column?: number } = {},
): CompileResult {
  return {
    ok: false,
    error: {
      code: "blueprint_compile_error",
      message: `blueprint compilation failed: ${message}`,
      detail: { line: position.line ?? 1, column: position.column ?? 1 },
    },
  };
}

/**
 * Compile a blueprint's TSX source with the spec's esbuild version and
 * options. A syntax error, a timeout or a broken compiler answers
 * `blueprint_compile_error` (with a 1-based line and column); never throws.
 *
 * @example
 * ```ts ignore
 * const r = await compileBlueprint("export default () => <div/>;");
 * if (r.ok) console.log(r.digest);
 * ```
 */
export function compileBlueprint(
  source: string,
  options: { timeoutMs?: number } = {},
): Promise<CompileResult> {
  // The probe and the publish after it compile the same source: share it.
  const key = `${options.timeoutMs ?? COMPILE_TIMEOUT_MS}:${
    sha256Hex(new TextEncoder().encode(source))
  }`;
  const hit = recent.get(key);
  if (hit) return hit;
  const pending = compileOnce(source, options);
  recent.set(key, pending);
  if (recent.size > RECENT_COMPILES) recent.delete(recent.keys().next().value!);
  return pending;
}

/** The last few compilations (by source digest), so one publish compiles once. */
const recent = new Map<string, Promise<CompileResult>>();
const RECENT_COMPILES = 4;

/** How long an idle warm compiler worker stays up before it closes itself. */
export const COMPILER_IDLE_MS = 10_000;

const compiler = warmWorker<string, WorkerReply>(
  new URL("./_compile_worker.ts", import.meta.url),
  { idleMs: COMPILER_IDLE_MS, init: { wasmURL: WASM_URL } },
);

async function compileOnce(
  source: string,
  options: { timeoutMs?: number },
): Promise<CompileResult> {
  const outcome = await compiler.run(source, options.timeoutMs ?? COMPILE_TIMEOUT_MS);
  if (!outcome.ok) return compileError(`compilation ${outcome.message}`);
  const reply = outcome.reply;
  if (!reply.ok || typeof reply.code !== "string") {
    return compileError(reply.message ?? "unknown compiler failure", reply);
  }
  if (reply.version !== ESBUILD_VERSION) {
    return compileError(`compiler is esbuild ${reply.version}, expected ${ESBUILD_VERSION}`);
  }
  const bytes = new TextEncoder().encode(reply.code);
  return { ok: true, code: reply.code, bytes, digest: sha256Hex(bytes) };
}

/** Stop the warm compiler worker now (it also closes itself when idle). */
export function stopCompiler(): void {
  compiler.stop();
}

/**
 * A view of `storage` whose commits also raise the compiled-blob row's
 * `refCount` (creating the row at 1), checked against the row's current
 * stamp: the version and its reference land together or not at all, and a
 * concurrent publish of the same bytes makes this commit fail its check and
 * retry (`putVersionIfAbsent` re-runs it) instead of losing a count.
 */
export function withCompiledRef(
  storage: RegistryStorage,
  blob: { digest: string; size: number; now: Date },
): RegistryStorage {
  const key = keys.compiledBlobKey(blob.digest);
  return {
    get: (k) => storage.get(k),
    getMany: (ks) => storage.getMany(ks),
    list: (prefix, options) => storage.list(prefix, options),
    close: () => storage.close(),
    async commit(commit: Commit) {
      const current = await storage.get<CompiledBlobRow>(key);
      const next: CompiledBlobRow = current
        ? { ...current.value, refCount: current.value.refCount + 1 }
        : {
          compiledDigest: blob.digest,
          compiledSize: blob.size,
          refCount: 1,
          createdAt: blob.now.toISOString(),
        };
      return await storage.commit({
        checks: [...commit.checks, { key, stamp: current?.stamp ?? null }],
        mutations: [
          ...commit.mutations,
          { type: "set", key, value: next as unknown as JsonValue },
        ],
      });
    },
  };
}

/** Read the compiled-blob row of a digest, or `null`. */
export async function getCompiledBlobRow(
  storage: RegistryStorage,
  digest: string,
): Promise<CompiledBlobRow | null> {
  return (await storage.get<CompiledBlobRow>(keys.compiledBlobKey(digest)))?.value ?? null;
}
