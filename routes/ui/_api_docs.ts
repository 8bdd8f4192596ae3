/**
 * API docs of a JSR version, computed once by `deno doc --json` and kept in
 * row storage, so every later view (in any process) reads them back.
 *
 * The run is a subprocess of the `deno` executing the server, with a
 * timeout and a bound on its output, over the version's module files written
 * to a temporary folder. It never runs package code (`deno doc` parses), it
 * resolves no npm package, and it may import only from this registry itself
 * (`JSR_URL` and `--allow-import` name its own origin; without a trusted
 * origin nothing remote at all). On Deno Deploy, or where the server cannot
 * spawn `deno`, there is no runner and the page says the docs are not
 * generated. A run that fails (a syntax error, a dependency it cannot reach)
 * is stored as failed, with the reason, and not retried.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { RegistryContext } from "../../core/context.ts";
import type { FileMap } from "../../core/rows.ts";
import * as keys from "../../storage/keys.ts";
import type { Mutation } from "../../storage/types.ts";
import { type DocModule, modulesOf } from "./_doc_symbols.ts";

/** What a run of `deno doc` answers. */
export type DocRun =
  | { ok: true; json: string }
  | { ok: false; reason: string; lasting: boolean };

/** Runs `deno doc --json` over entrypoints inside a folder. */
export interface DocRunner {
  /** Run it; `lasting: false` when the failure is the machine's, not the package's. */
  run(
    dir: string,
    options: { entrypoints: string[]; origin?: string; config?: string },
  ): Promise<DocRun>;
}

/** Options of {@linkcode denoDocRunner}. */
export interface DenoDocRunnerOptions {
  /** The deno executable (default: the one running the server). */
  deno?: string;
  /** Kill the run after this long (default 30 s). */
  timeoutMs?: number;
  /** Most bytes of JSON read (default 16 MiB; more is a failure). */
  maxOutputBytes?: number;
}

/** Whether this process can spawn subprocesses (not on Deno Deploy). */
export function canSpawn(): boolean {
  return typeof Deno.Command === "function" && Deno.env.get("DENO_DEPLOYMENT_ID") === undefined;
}

async function readBounded(stream: ReadableStream<Uint8Array>, max: number) {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > max) return null;
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(out);
}

/** The first line of deno's error output, colours and the folder's path removed. */
function reasonOf(stderr: string, dir: string): string {
  // deno-lint-ignore no-control-regex
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, "").replaceAll(pathToFileURL(dir).href, "")
    .replaceAll(dir, "");
  const line = plain.split("\n").find((l) => /^error/i.test(l.trim())) ?? plain.trim();
  return line.trim().slice(0, 300) || "deno doc failed";
}

/** The runner over a local `deno` (see the module doc). */
export function denoDocRunner(options: DenoDocRunnerOptions = {}): DocRunner {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const max = options.maxOutputBytes ?? 16 * 1024 * 1024;
  return {
    async run(dir, { entrypoints, origin, config }) {
      const remote = origin ? [`--allow-import=${new URL(origin).host}`] : ["--no-remote"];
      const configArgs = config ? [`--config=${config}`] : ["--no-config"];
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(options.deno ?? Deno.execPath(), {
          args: [
            "doc",
            "--json",
            "--no-npm",
            "--no-lock",
            ...configArgs,
            ...remote,
            ...entrypoints,
          ],
          cwd: dir,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: {
            NO_COLOR: "1",
            DENO_NO_UPDATE_CHECK: "1",
            ...(origin ? { JSR_URL: `${origin}/` } : {}),
          },
        }).spawn();
      } catch (err) {
        return {
          ok: false,
          reason: `deno could not be started: ${(err as Error).name}`,
          lasting: false,
        };
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        const [json, stderr, status] = await Promise.all([
          readBounded(child.stdout, max).then((text) => {
            if (text === null) child.kill("SIGKILL");
            return text;
          }),
          readBounded(child.stderr, 64 * 1024),
          child.status,
        ]);
        if (json === null) return { ok: false, reason: "The docs are too large", lasting: true };
        if (status.signal === "SIGKILL") {
          return { ok: false, reason: "deno doc ran out of time", lasting: false };
        }
        if (!status.success) {
          return { ok: false, reason: reasonOf(stderr ?? "", dir), lasting: true };
        }
        return { ok: true, json };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** What the docs page shows. */
export type ApiDocs =
  | { state: "ready"; modules: DocModule[]; truncated: boolean }
  | { state: "failed"; reason: string }
  | { state: "unavailable" }
  | { state: "pending" };

/** The head row of a version's stored docs. */
interface DocsHead {
  status: "ok" | "failed";
  reason?: string;
  chunks: number;
  truncated: boolean;
  generatedAt: string;
}

/** Characters per stored chunk (≤ 60 KB however wide the characters) and chunks per version. */
const CHUNK_CHARS = 30_000;
const MAX_CHUNKS = 12;

/** Files `deno doc` may need: modules and JSON, each at most 4 MiB. */
const MODULE_RE = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs|json|jsonc)$/;

/** Read back stored docs; `null` when there are none. */
async function storedDocs(ctx: RegistryContext, id: VersionId): Promise<ApiDocs | null> {
  const head = (await ctx.storage.get<DocsHead>(keys.uiApiDocsKey(id)))?.value;
  if (!head) return null;
  if (head.status === "failed") return { state: "failed", reason: head.reason ?? "" };
  let text = "";
  for (let i = 0; i < head.chunks; i++) {
    const chunk = await ctx.storage.get<string>(keys.uiApiDocsChunkKey(id, i));
    if (!chunk) return null;
    text += chunk.value;
  }
  return { state: "ready", modules: JSON.parse(text), truncated: head.truncated };
}

/** Modules as chunked text, dropping symbols from the end until it fits. */
function chunksOf(modules: DocModule[]): { chunks: string[]; truncated: boolean } {
  let truncated = false;
  let text = JSON.stringify(modules);
  while (text.length > CHUNK_CHARS * MAX_CHUNKS) {
    truncated = true;
    const last = [...modules].reverse().find((m) => m.symbols.length > 0);
    if (!last) break;
    last.symbols.splice(Math.floor(last.symbols.length / 2));
    text = JSON.stringify(modules);
  }
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK_CHARS) chunks.push(text.slice(i, i + CHUNK_CHARS));
  return { chunks, truncated };
}

async function store(ctx: RegistryContext, id: VersionId, result: DocsHead, chunks: string[]) {
  const mutations: Mutation[] = chunks.map((value, i) => ({
    type: "set",
    key: keys.uiApiDocsChunkKey(id, i),
    value,
  }));
  mutations.push({ type: "set", key: keys.uiApiDocsKey(id), value: { ...result } });
  // The head row is written with its chunks, once: a second process computing
  // the same docs at the same moment loses the check and changes nothing.
  await ctx.storage.commit({ checks: [{ key: keys.uiApiDocsKey(id), stamp: null }], mutations });
}

/** A JSR version, by namespace, name and version. */
export interface VersionId {
  namespace: string;
  name: string;
  version: string;
}

/** Write the version's module and JSON files under `dir` (bounded in number of bytes). */
async function writeModules(ctx: RegistryContext, dir: string, files: FileMap): Promise<void> {
  let total = 0;
  for (const [path, entry] of Object.entries(files)) {
    const clean = path.replace(/^\/+/, "");
    if (!MODULE_RE.test(clean) || entry.size > 4 * 1024 * 1024) continue;
    if (clean.split("/").some((s) => s === "" || s === "." || s === "..")) continue;
    total += entry.size;
    if (total > 32 * 1024 * 1024) break;
    const body = await ctx.bundles.get(entry.sha256);
    if (!body) continue;
    const target = join(dir, clean);
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeFile(target, body.stream);
  }
}

/**
 * The package's `deno.json` reduced to what resolving its imports needs
 * (`imports`, `scopes`), written beside the folder: nothing else of it (an
 * `importMap` URL, `vendor`, tasks…) reaches `deno doc`. `undefined` when
 * the package has none that parses.
 */
async function writeConfig(
  ctx: RegistryContext,
  dir: string,
  files: FileMap,
): Promise<string | undefined> {
  const entry = files["deno.json"] ?? files["/deno.json"] ?? files["jsr.json"] ??
    files["/jsr.json"];
  if (!entry || entry.size > 256 * 1024) return undefined;
  const body = await ctx.bundles.get(entry.sha256);
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await new Response(body.stream).text());
  } catch {
    return undefined;
  }
  const config: Record<string, unknown> = {};
  for (const field of ["imports", "scopes"]) {
    const value = (parsed as Record<string, unknown> | null)?.[field];
    if (value !== null && typeof value === "object" && !Array.isArray(value)) config[field] = value;
  }
  const path = `${dir}.config.json`;
  await Deno.writeTextFile(path, JSON.stringify(config));
  return path;
}

async function compute(
  ctx: RegistryContext,
  input: { id: VersionId; exports: Record<string, string>; files: FileMap },
  runner: DocRunner,
  origin: string | undefined,
): Promise<ApiDocs> {
  const dir = await Deno.makeTempDir({ prefix: "registry-doc-" });
  try {
    await writeModules(ctx, dir, input.files);
    const entrypoints = [...new Set(Object.values(input.exports))].map((p) =>
      `./${p.replace(/^\.?\/+/, "")}`
    );
    const config = await writeConfig(ctx, dir, input.files);
    const run = await runner.run(dir, {
      entrypoints,
      ...(origin ? { origin } : {}),
      ...(config ? { config } : {}),
    });
    const generatedAt = ctx.clock().toISOString();
    if (!run.ok) {
      if (run.lasting) {
        await store(ctx, input.id, {
          status: "failed",
          reason: run.reason,
          chunks: 0,
          truncated: false,
          generatedAt,
        }, []);
      }
      return { state: "failed", reason: run.reason };
    }
    const modules = modulesOf(JSON.parse(run.json), {
      exports: input.exports,
      root: pathToFileURL(dir + "/").href,
    });
    const { chunks, truncated } = chunksOf(modules);
    await store(
      ctx,
      input.id,
      { status: "ok", chunks: chunks.length, truncated, generatedAt },
      chunks,
    );
    return { state: "ready", modules, truncated };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(`${dir}.config.json`).catch(() => {});
  }
}

/** Runs under way in this process, by version (a second view waits for the first run). */
const running = new Map<string, Promise<ApiDocs>>();

/**
 * The docs of a version: stored ones, else computed now (once per process
 * at a time) when a runner is given; `pending` when the run takes longer
 * than `waitMs` (it goes on and stores its result).
 */
export async function apiDocs(
  ctx: RegistryContext,
  input: {
    id: VersionId;
    exports: Record<string, string>;
    files: FileMap;
    runner: DocRunner | null;
    origin?: string;
    waitMs?: number;
  },
): Promise<ApiDocs> {
  const stored = await storedDocs(ctx, input.id);
  if (stored) return stored;
  if (!input.runner) return { state: "unavailable" };
  const key = JSON.stringify([input.id.namespace, input.id.name, input.id.version]);
  let run = running.get(key);
  if (!run) {
    run = compute(ctx, input, input.runner, input.origin).catch((): ApiDocs => ({
      state: "failed",
      reason: "The docs could not be generated",
    })).finally(() => running.delete(key));
    running.set(key, run);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<ApiDocs>((resolve) => {
    timer = setTimeout(() => resolve({ state: "pending" }), input.waitMs ?? 15_000);
  });
  try {
    return await Promise.race([run, late]);
  } finally {
    clearTimeout(timer);
  }
}
