/**
 * The opt-in blueprint runtime probe (`--blueprint-probe`): render a
 * blueprint's default export against its `fixtureProps` with React's server
 * renderer, in a sandbox, and fail the publish (400 `conformance_failed`,
 * `blueprint_runtime_probe_failed`) when it throws, hangs or explodes.
 *
 * The sandbox is a separate `deno run` process (server/_probe_runner.ts):
 * - permissions: none while blueprint code runs. The child starts with one,
 *   reading the variable `NODE_ENV` (React's CommonJS entries read it while
 *   loading), and revokes it (`Deno.permissions.revoke`) before it reads the
 *   blueprint; no file, network, run, ffi or sys access ever, and
 *   `--no-prompt` so nothing can ask for more;
 * - modules: `--no-remote --deny-import --cached-only`, so code that builds an `import()`
 *   at run time (e.g. through the Function constructor) can neither fetch a
 *   remote module nor download an npm package;
 * - time: killed (SIGKILL) at the time limit;
 * - memory: a V8 heap cap (`--max-old-space-size`, V8 aborts the child on
 *   exhaustion) plus a resident-memory watchdog (Linux `/proc`) that kills
 *   it when buffers outside the heap grow past the limit;
 * - output: read up to a cap; the verdict is the line carrying a per-run
 *   nonce the blueprint never sees.
 *
 * Why not a Worker with `deno.permissions: "none"` in the server process: a
 * Worker cannot be given a memory limit, and a heap exhaustion in any
 * isolate aborts the whole process — the server with it.
 *
 * The server process needs `--allow-run` (for `deno`) and `--allow-read`
 * (for `/proc`); `main.ts` runs with `-A`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { compileBlueprint } from "../core/ggui/compile.ts";
import type { BlueprintProbe, ConformanceError } from "../core/ggui/conformance.ts";
import type { BlueprintManifest } from "../core/ggui/manifest.ts";

/** Options of {@linkcode createBlueprintProbe}. */
export interface BlueprintProbeOptions {
  /** Wall-clock limit of one render, including the child's start (default 10 s). */
  timeoutMs?: number;
  /** V8 old-space limit of the child in MiB (default 128). */
  maxHeapMb?: number;
  /** Resident-memory limit of the child in MiB (default 512). */
  maxRssMb?: number;
  /** Largest stdout read from the child (default 1 MiB). */
  maxOutputBytes?: number;
  /** The `deno` executable (default: this one). */
  denoPath?: string;
}

/** The probe, plus a warm-up that caches the runner's modules (React) once. */
export interface ProcessBlueprintProbe extends BlueprintProbe {
  /** Download and cache the runner's dependencies (the child itself cannot). */
  warmUp(): Promise<void>;
}

/** The runner script and config, which must be local files (the child runs with --no-remote). */
function localPaths(): { runner: string; config: string } {
  const runner = new URL("./_probe_runner.ts", import.meta.url);
  if (runner.protocol !== "file:") {
    throw new Error(
      "The blueprint probe needs a local copy of the registry (it runs its sandbox with --no-remote): start it from a clone",
    );
  }
  return {
    runner: fileURLToPath(runner),
    config: fileURLToPath(new URL("../deno.json", import.meta.url)),
  };
}

function failure(message: string): { ok: false; errors: ConformanceError[] } {
  return {
    ok: false,
    errors: [{
      code: "blueprint_runtime_probe_failed",
      message: `blueprint runtime probe failed: ${message}`,
    }],
  };
}

async function rssMb(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Create the process-sandboxed probe.
 *
 * @example
 * ```ts ignore
 * const blueprintProbe = createBlueprintProbe({ timeoutMs: 5000 });
 * await blueprintProbe.warmUp();
 * createRegistryApp({ ...options, blueprintProbe });
 * ```
 */
export function createBlueprintProbe(options: BlueprintProbeOptions = {}): ProcessBlueprintProbe {
  const deno = options.denoPath ?? Deno.execPath();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxHeapMb = options.maxHeapMb ?? 128;
  const maxRssMb = options.maxRssMb ?? 512;
  const maxOutput = options.maxOutputBytes ?? 1024 * 1024;
  let warm: Promise<void> | undefined;
  const { runner: RUNNER, config: CONFIG } = localPaths();

  function warmUp(): Promise<void> {
    return warm ??= (async () => {
      const out = await new Deno.Command(deno, {
        args: ["cache", "--quiet", `--config=${CONFIG}`, RUNNER],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) {
        warm = undefined;
        throw new Error(
          `Could not cache the blueprint probe's modules: ${new TextDecoder().decode(out.stderr)}`,
        );
      }
    })();
  }

  async function run(
    code: string,
    fixtureProps: unknown,
  ): Promise<{ ok: boolean; message?: string }> {
    const nonce = crypto.randomUUID();
    const child = new Deno.Command(deno, {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--no-remote",
        "--deny-import",
        "--cached-only",
        `--config=${CONFIG}`,
        "--allow-env=NODE_ENV",
        `--v8-flags=--max-old-space-size=${maxHeapMb}`,
        RUNNER,
      ],
      env: { NODE_ENV: "production", NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let killedFor: string | undefined;
    const kill = (why: string) => {
      killedFor ??= why;
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    let watching = true;
    const watchdog = (async () => {
      while (watching) {
        const rss = await rssMb(child.pid);
        if (rss !== undefined && rss > maxRssMb) {
          kill(`used more than ${maxRssMb} MiB of memory`);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify({ nonce, code, fixtureProps })))
        .catch(() => {});
      await writer.close().catch(() => {});
      // Read stdout up to the cap, keeping only what follows the last newline run.
      const chunks: Uint8Array[] = [];
      let total = 0;
      for await (const chunk of child.stdout) {
        total += chunk.byteLength;
        if (total > maxOutput) {
          kill(`wrote more than ${maxOutput} bytes of output`);
          break;
        }
        chunks.push(chunk);
      }
      const status = await child.status;
      if (killedFor !== undefined) return { ok: false, message: killedFor };
      const text = new TextDecoder().decode(
        chunks.length === 1
          ? chunks[0]
          : new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()),
      );
      const line = text.split("\n").find((l) => l.startsWith(`${nonce} `));
      if (line === undefined) {
        return {
          ok: false,
          message: status.signal
            ? `the renderer was killed by ${status.signal} (out of memory?)`
            : `the renderer exited with code ${status.code} before answering (out of memory or an uncaught error)`,
        };
      }
      const verdict = JSON.parse(line.slice(nonce.length + 1)) as { ok: boolean; message?: string };
      if (verdict.ok && !status.success) {
        return { ok: false, message: "the renderer exited abnormally" };
      }
      return verdict;
    } finally {
      clearTimeout(timer);
      watching = false;
      await watchdog;
      kill("done");
      await child.status;
    }
  }

  return {
    warmUp,
    async probe(manifest: BlueprintManifest) {
      try {
        await warmUp();
      } catch (err) {
        return failure(err instanceof Error ? err.message : String(err));
      }
      const compiled = await compileBlueprint(manifest.source);
      if (!compiled.ok) return failure(compiled.error.message);
      const verdict = await run(compiled.code, manifest.fixtureProps ?? {});
      return verdict.ok ? { ok: true, errors: [] } : failure(verdict.message ?? "render failed");
    },
  };
}
