/**
 * Rack's R2 mirror in a server process, and its operator command.
 *
 * - {@linkcode startRackMirror}: the loop that works the mirror outbox
 *   (`core/rack/mirror.ts`) whenever items are due, and copies `auth.json` to
 *   `.auth/auth.json` whenever its bytes change (only a document that parses:
 *   a broken edit is never handed to the Worker), and the schema files
 *   `/schemas/:file` serves to `schema/<file>` whenever they change (the
 *   original's layout: the Worker serves them from there). It counts the
 *   items it works and shows the outbox it last read in `/metrics`
 *   (`registry_rack_mirror_*`). Several processes may run
 *   it on one store; leases keep each item with one of them at a time.
 * - {@linkcode runRackMirrorCli}: `main.ts rack-mirror rebuild [--prune]`
 *   writes the whole mirror again from the store; `main.ts rack-mirror status`
 *   lists what is still pending.
 *
 * @module
 */
import type { RegistryContext } from "../core/context.ts";
import { startPollLoop } from "./_poll_loop.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import {
  drainRackMirror,
  pendingRackMirror,
  rackMirrorBacklog,
  rebuildRackMirror,
  syncAuthCopy,
  syncSchemaCopies,
} from "../core/rack/mirror.ts";
import { schemaFileBytes } from "../routes/rack/mod.ts";
import { observeRackMirrorBacklog, rackMirrorItemsTotal } from "../core/metrics.ts";
import type { S3BundleStorage } from "../storage/s3.ts";
import { parseServerArgs } from "./config.ts";
import { openStores } from "./open.ts";
import type { S3BundlesSpec } from "./s3_config.ts";

/** Open the mirror's bucket (checked: a missing bucket or refused credentials fail in one line). */
export async function openRackMirror(spec: S3BundlesSpec): Promise<S3BundleStorage> {
  const { kind: _, ...s3 } = spec;
  // Loaded when a mirror is configured: aws4fetch stays out of every other start.
  const { S3BundleStorage } = await import("../storage/s3.ts");
  return await S3BundleStorage.open({ ...s3, prefix: "" });
}

/** Where a mirror is written, as messages name it. */
export function describeRackMirror(spec: S3BundlesSpec): string {
  return `s3:${spec.bucket} at ${spec.endpoint ?? spec.region}`;
}

/** Options of {@linkcode startRackMirror}. */
export interface RackMirrorLoopOptions {
  /** The bucket. */
  target: S3BundleStorage;
  /** Rack's auth.json, copied to `.auth/auth.json` when it changes. */
  authConfig?: string;
  /** SCHEMA_DIR, whose schema files are copied to `schema/<file>` (default: the built-in ones). */
  schemaDir?: string;
  /** Longest sleep between looks at the outbox (other processes enqueue too), default 1000 ms. */
  pollMs?: number;
  /** Told about each failed write (it is retried) and loop faults. */
  onError?: (message: string, error: unknown) => void;
}

/** Copy auth.json when it parses and changed since the last copy. */
async function syncAuthFile(ctx: RegistryContext, options: RackMirrorLoopOptions): Promise<void> {
  if (options.authConfig === undefined) return;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(options.authConfig);
  } catch (err) {
    // Gone for a moment (an editor's save) or for good: the Worker keeps the last copy.
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  try {
    parseAuthConfig(new TextDecoder().decode(bytes));
  } catch {
    return; // the auth provider logs the broken edit and keeps the last good one
  }
  await syncAuthCopy(ctx, options.target, bytes);
}

/**
 * Start the loop. `stop()` ends it after the write in hand (waiting at most
 * five seconds: an item cut short keeps its lease and is taken again later).
 */
export function startRackMirror(
  ctx: RegistryContext,
  options: RackMirrorLoopOptions,
): { stop(): Promise<void> } {
  const fault = options.onError ?? (() => {});
  return startPollLoop({
    pollMs: options.pollMs ?? 1000,
    now: () => ctx.clock().getTime(),
    step: async (signal) => {
      const report = await drainRackMirror(ctx, options.target, {
        signal,
        onFailure: (item, err) =>
          fault(`Rack mirror write failed (will retry): ${item.kind} ${itemName(item)}`, err),
      });
      if (report.done > 0) rackMirrorItemsTotal.inc({ result: "mirrored" }, report.done);
      if (report.failed > 0) rackMirrorItemsTotal.inc({ result: "failed" }, report.failed);
      // Read before the documents are synced: a bucket that is down fails those, not the gauges.
      const backlog = await rackMirrorBacklog(ctx);
      observeRackMirrorBacklog(backlog, ctx.clock);
      await syncAuthFile(ctx, options);
      await syncSchemaCopies(
        ctx,
        options.target,
        (file) => schemaFileBytes(options.schemaDir, file),
      );
      return backlog.nextDueAt;
    },
    onError: (err) => fault("Rack mirror fault", err),
    stopWaitMs: 5000,
  });
}

function itemName(item: { kind: string } & Record<string, unknown>): string {
  return item.kind === "preset"
    ? String(item.preset)
    : `${item.namespace}/${item.name}@${item.version}`;
}

/** Usage of `rack-mirror`. */
export const RACK_MIRROR_USAGE = `Usage:
  main.ts rack-mirror rebuild [--prune] [--auth-config=<auth.json>]
                              write Rack's key layout again from the store: every version's
                              files (registry.json last), versions.json, presets, auth.json,
                              the schema files;
                              --prune also deletes @… objects of versions the store lacks
  main.ts rack-mirror status  the writes still pending (JSON)
Store flags as for the server (--storage, --bundles, --data-dir), and the mirror's bucket:
STORAGE_BACKEND=r2 with its R2_* variables, or --rack-mirror=on|s3:<bucket>.`;

/**
 * Run `rack-mirror`; answers the exit code. `args` start after `rack-mirror`.
 *
 * @example
 * ```ts ignore
 * const code = await runRackMirrorCli(["rebuild", "--storage=kv:./data/registry.kv"], Deno.env.toObject());
 * ```
 */
export async function runRackMirrorCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: { out(line: string): void; err(line: string): void } = {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  },
): Promise<number> {
  const usage = (reason: string) => {
    io.err(`registry: ${reason}`);
    io.err(RACK_MIRROR_USAGE);
    return 2;
  };
  const [sub, ...rest] = args;
  if (sub === "--help" || sub === "-h") {
    io.out(RACK_MIRROR_USAGE);
    return 0;
  }
  if (sub !== "rebuild" && sub !== "status") {
    return usage(
      sub === undefined
        ? "rack-mirror needs rebuild or status"
        : `unknown rack-mirror command '${sub}'`,
    );
  }
  const own = rest.filter((a) => a === "--prune");
  if (own.length > 0 && sub !== "rebuild") return usage("rack-mirror status does not take --prune");
  const parsed = parseServerArgs(rest.filter((a) => a !== "--prune"), env);
  if (!parsed.ok) return parsed.help ? (io.out(RACK_MIRROR_USAGE), 0) : usage(parsed.error);
  const spec = parsed.config.rackMirror;
  if (spec === undefined) {
    return usage(
      "rack-mirror needs the mirror's bucket: STORAGE_BACKEND=r2, or --rack-mirror=on|s3:<bucket>",
    );
  }
  let stores: Awaited<ReturnType<typeof openStores>>;
  let target: S3BundleStorage;
  try {
    stores = await openStores(parsed.config);
  } catch (err) {
    io.err(
      `registry: Could not open the store: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
  try {
    target = await openRackMirror(spec);
  } catch (err) {
    await stores.close();
    io.err(`registry: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const ctx: RegistryContext = {
    storage: stores.storage,
    bundles: stores.bundles,
    clock: () => new Date(),
  };
  try {
    if (sub === "status") {
      const pending = await pendingRackMirror(ctx);
      io.out(JSON.stringify({ bucket: describeRackMirror(spec), pending }, null, 2));
      return 0;
    }
    const report = await rebuildRackMirror(ctx, target, {
      prune: own.length > 0,
      onProgress: (r) =>
        io.err(`registry: rack-mirror: ${r.packages} packages, ${r.versions} versions`),
    });
    const authConfig = parsed.config.authConfig;
    let auth = false;
    if (authConfig !== undefined) {
      const bytes = await Deno.readFile(authConfig);
      // Refused when it does not parse: the Worker would fail closed on it.
      parseAuthConfig(new TextDecoder().decode(bytes));
      auth = await syncAuthCopy(ctx, target, bytes, { force: true });
    }
    const schemaDir = parsed.config.schemaDir;
    const schemas = await syncSchemaCopies(ctx, target, (f) => schemaFileBytes(schemaDir, f), {
      force: true,
    });
    io.out(JSON.stringify({ ...report, auth, schemas }));
    return 0;
  } catch (err) {
    io.err(
      `registry: rack-mirror ${sub} failed: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  } finally {
    await target.close();
    await stores.close();
  }
}
