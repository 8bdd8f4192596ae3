/**
 * `main.ts migrate ggui|rack <dir>`: move in from an original registry.
 *
 * ```sh
 * main.ts migrate ggui <registry-data> [--dry-run] [--old-bundle-host=<url>] [store flags]
 * main.ts migrate rack <STORAGE_ROOT> [--auth-config=<auth.json>] [--webhook-config=<webhooks.json>]
 *                      [--tokens=keep-file|import] [--dry-run] [store flags]
 * ```
 *
 * Progress, per-version outcomes and every problem go to stderr as they
 * happen; the summary (JSON: counts, and the first problems of each kind) to
 * stdout, its size independent of the source's. Exit 0 when every version is imported or already identical, 1 when
 * anything was refused or conflicts (or the source is not a registry
 * directory), 2 for usage errors.
 *
 * @module
 */
import { parseFlags } from "./flags.ts";
import type { RegistryContext } from "../core/context.ts";
import {
  type MigrationProgress,
  type MigrationReport,
  SourceError,
} from "../core/migrate/_common.ts";
import { checkGguiSource, migrateGgui } from "../core/migrate/ggui.ts";
import { checkRackSource, migrateRack } from "../core/migrate/rack.ts";
import { parseServerArgs, type ServerConfig } from "./config.ts";
import { fsSource } from "./migrate_source.ts";
import { openStores } from "./open.ts";

/** Where the command writes. */
export interface MigrateIo {
  /** Standard output. */
  out(line: string): void;
  /** Standard error. */
  err(line: string): void;
  /** Whether stderr is a terminal (progress with an estimate of the time left). */
  tty?: boolean;
}

/** Usage of `migrate`. */
export const MIGRATE_USAGE = `Usage:
  main.ts migrate ggui <registry-data dir> [--dry-run] [--old-bundle-host=<url>]
  main.ts migrate rack <STORAGE_ROOT> [--dry-run] [--auth-config=<auth.json>]
                       [--webhook-config=<webhooks.json>] [--tokens=keep-file|import]
Store flags as for the server: --storage, --bundles, --data-dir (and their environment).`;

const OWN = {
  "dry-run": { type: "boolean" },
  "old-bundle-host": { type: "string" },
  tokens: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function progressLine(p: MigrationProgress, started: number, tty: boolean): string {
  const mib = (p.bytes / 1048576).toFixed(1);
  let eta = "";
  if (tty && p.done > 0 && p.done < p.total) {
    const left = ((Date.now() - started) / p.done) * (p.total - p.done);
    eta = `, about ${Math.ceil(left / 1000)} s left`;
  }
  return `migrate: ${p.done}/${p.total} versions, ${mib} MiB${eta}`;
}

/** Whether the run found anything wrong (exit 1). */
export function reportFailed(report: MigrationReport): boolean {
  return report.counts.refused > 0 || report.counts.conflicts > 0;
}

/**
 * Run `migrate`; answers the exit code. `args` start after `migrate`.
 *
 * @example
 * ```ts ignore
 * const code = await runMigrate(["ggui", "./registry-data", "--dry-run", "--storage=kv:./r.kv"], Deno.env.toObject());
 * ```
 */
export async function runMigrate(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: MigrateIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const usage = (reason: string) => {
    io.err(`registry: ${reason}`);
    io.err(MIGRATE_USAGE);
    return 2;
  };
  const own: string[] = [];
  const store: string[] = [];
  for (const a of args) {
    const name = /^--([a-z0-9-]+)/.exec(a)?.[1];
    (name !== undefined && !(name in OWN) ? store : own).push(a);
  }
  let values: { "dry-run"?: boolean; "old-bundle-host"?: string; tokens?: string; help?: boolean };
  let positionals: string[];
  try {
    const parsed = parseFlags(own, { options: OWN, allowPositionals: true });
    values = parsed.values as typeof values;
    positionals = parsed.positionals;
  } catch (err) {
    return usage(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    io.out(MIGRATE_USAGE);
    return 0;
  }
  const [kind, dir, extra] = positionals;
  if (kind !== "ggui" && kind !== "rack") {
    return usage(
      kind === undefined ? "migrate needs ggui or rack" : `unknown source '${kind}' (ggui or rack)`,
    );
  }
  if (dir === undefined) return usage(`migrate ${kind} needs the directory to import`);
  if (extra !== undefined) return usage(`unexpected argument '${extra}'`);
  if (kind === "ggui" && values.tokens !== undefined) {
    return usage("migrate ggui does not take --tokens");
  }
  if (kind === "rack" && values["old-bundle-host"] !== undefined) {
    return usage("migrate rack does not take --old-bundle-host");
  }
  const tokens = values.tokens ?? "keep-file";
  if (tokens !== "keep-file" && tokens !== "import") {
    return usage(`--tokens must be keep-file or import (got '${tokens}')`);
  }
  const oldHost = values["old-bundle-host"];
  if (oldHost !== undefined && !/^https?:\/\/[^/\s]+$/.test(oldHost.replace(/\/+$/, ""))) {
    return usage(`--old-bundle-host must be an http(s) origin (got '${oldHost}')`);
  }
  const server = parseServerArgs(store, env);
  if (!server.ok) return usage(server.help ? "migrate takes no server --help" : server.error);
  const dryRun = values["dry-run"] === true;
  const source = fsSource(dir);
  // Refuse a wrong directory before a store is opened (opening creates one).
  try {
    const root = await source.list("");
    if (root === null) throw new SourceError(dir, "does not exist or is not a directory");
    await (kind === "ggui" ? checkGguiSource(source) : checkRackSource(source));
  } catch (err) {
    const line = err instanceof Error ? err.message : String(err);
    io.err(`registry: ${line.startsWith(".: ") ? `${dir}: ${line.slice(3)}` : line}`);
    return 1;
  }
  let stores;
  try {
    // A dry run writes nothing, not even a new empty store: a target that is
    // not there yet is planned against an empty one in memory.
    const absent = dryRun && await storeAbsent(server.config);
    stores = await openStores(
      absent
        ? { ...server.config, storage: { kind: "memory" }, bundles: { kind: "memory" } }
        : server.config,
    );
  } catch (err) {
    io.err(
      `registry: could not open the store: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
  const ctx: RegistryContext = {
    storage: stores.storage,
    bundles: stores.bundles,
    clock: () => new Date(),
  };
  const started = Date.now();
  let lastShown = 0;
  const onProgress = (p: MigrationProgress) => {
    if (p.done === p.total || Date.now() - lastShown > 1000) {
      lastShown = Date.now();
      io.err(progressLine(p, started, io.tty ?? Deno.stderr.isTerminal()));
    }
  };
  const onEvent = (line: string) => io.err(`migrate: ${line}`);
  try {
    const report = kind === "ggui"
      ? await migrateGgui(ctx, source, {
        dryRun,
        onProgress,
        onEvent,
        ...(oldHost === undefined ? {} : { oldBundleHost: oldHost }),
      })
      : await migrateRack(ctx, source, {
        dryRun,
        onProgress,
        onEvent,
        tokens,
        ...(server.config.authConfig
          ? { authConfig: await readConfig(server.config.authConfig) }
          : {}),
        ...(server.config.webhookConfig
          ? { webhookConfig: await readConfig(server.config.webhookConfig) }
          : {}),
      });
    io.out(JSON.stringify(report, null, 2));
    return reportFailed(report) ? 1 : 0;
  } catch (err) {
    io.err(`registry: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    return 1;
  } finally {
    await stores.close();
  }
}

/** Whether the configured local store does not exist yet. */
async function storeAbsent(config: ServerConfig): Promise<boolean> {
  const path = config.storage.kind === "fs"
    ? config.storage.path
    : config.storage.kind === "kv"
    ? config.storage.path
    : undefined;
  if (path === undefined || path === ":memory:" || /^https?:\/\//.test(path)) return false;
  try {
    await Deno.stat(path);
    return false;
  } catch {
    return true;
  }
}

/** A config file's path and text (its own error names it). */
async function readConfig(path: string): Promise<{ path: string; text: string }> {
  try {
    return { path, text: await Deno.readTextFile(path) };
  } catch (err) {
    throw new SourceError(
      path,
      err instanceof Deno.errors.NotFound ? "does not exist" : "cannot be read",
    );
  }
}
