// A file-backed, hot-reloading auth.json provider for the Rack routes: stats
// the file at most once per interval and re-parses it when its mtime, size or
// inode change, so a revoked token stops working without a restart. A new file
// that is not valid JSON (or not an object) keeps the last good configuration;
// a deleted file declares nothing (fail closed).
import { parseAuthConfig, type RackAuth, type RackAuthProvider } from "../../core/rack/auth.ts";
import { parseWebhookConfig, type WebhookSubscription } from "../../core/rack/webhooks.ts";
import type { RackLog } from "./_http.ts";

/** Options of {@linkcode createFileAuthProvider}. */
export interface FileAuthOptions {
  /** Path of auth.json (AUTH_CONFIG_PATH). */
  path: string;
  /** ADMIN_TOKEN (trimmed; empty = no admin). */
  adminToken?: string;
  /** Where rejected namespaces and reload failures are reported. */
  log?: RackLog;
  /** Least time between two stats of the file (default 1000 ms). */
  minIntervalMs?: number;
  /** Told about every reload attempt (the server writes a `config.reload` audit record). */
  onReload?: (outcome: "ok" | "refused", detail: Record<string, unknown>) => unknown;
}

interface Stamp {
  mtime: number;
  size: number;
  ino: number;
}

async function readStamped(path: string): Promise<{ text: string | null; stamp: Stamp | null }> {
  try {
    const info = await Deno.stat(path);
    const text = await Deno.readTextFile(path);
    return {
      text,
      stamp: { mtime: info.mtime?.getTime() ?? 0, size: info.size, ino: info.ino ?? 0 },
    };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { text: null, stamp: null };
    throw err;
  }
}

function sameStamp(a: Stamp | null, b: Stamp | null): boolean {
  if (a === null || b === null) return a === b;
  return a.mtime === b.mtime && a.size === b.size && a.ino === b.ino;
}

/**
 * Load auth.json (throwing when it exists but is invalid: the server must not
 * start) and return a provider for `createRackRoutes({ auth })`.
 */
export async function createFileAuthProvider(
  options: FileAuthOptions,
): Promise<RackAuthProvider> {
  const log = options.log ?? (() => {});
  const interval = options.minIntervalMs ?? 1000;
  const load = (text: string | null): RackAuth => {
    const parsed = parseAuthConfig(
      text,
      options.adminToken === undefined ? {} : { adminToken: options.adminToken },
    );
    for (const r of parsed.rejected) {
      log("warn", "auth.json namespace rejected", { namespace: r.namespace, reason: r.reason });
    }
    if (text === null) {
      log("warn", "auth.json not found: no namespace is declared", { path: options.path });
    }
    return parsed.auth;
  };
  const first = await readStamped(options.path);
  let current = load(first.text);
  let stamp = first.stamp;
  let checkedAt = Date.now();
  let inFlight: Promise<RackAuth> | undefined;

  const refresh = async (): Promise<RackAuth> => {
    try {
      const info = await Deno.stat(options.path).then(
        (i): Stamp => ({ mtime: i.mtime?.getTime() ?? 0, size: i.size, ino: i.ino ?? 0 }),
        (err) => {
          if (err instanceof Deno.errors.NotFound) return null;
          throw err;
        },
      );
      if (sameStamp(info, stamp)) return current;
      const next = await readStamped(options.path);
      try {
        current = load(next.text);
        log("info", "auth.json reloaded", {
          path: options.path,
          namespaces: current.namespaces.size,
        });
        await options.onReload?.("ok", { path: options.path, namespaces: current.namespaces.size });
      } catch (err) {
        const error = String(err instanceof Error ? err.message : err);
        log("error", "auth.json reload failed; keeping the last good configuration", {
          path: options.path,
          error,
        });
        await options.onReload?.("refused", { path: options.path, error });
      }
      stamp = next.stamp;
    } catch (err) {
      log("error", "auth.json could not be checked", { error: String(err) });
    }
    return current;
  };

  const provider: RackAuthProvider = () => {
    const now = Date.now();
    if (now - checkedAt < interval) return Promise.resolve(current);
    if (inFlight) return inFlight;
    checkedAt = now;
    inFlight = refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  // What the call would answer at once; a due check is the call's to make.
  provider.now = () =>
    inFlight === undefined && Date.now() - checkedAt < interval ? current : undefined;
  return provider;
}

/**
 * Read WEBHOOK_CONFIG_PATH: a missing file disables webhooks; an invalid one
 * throws (the server must not start).
 */
export async function loadWebhookFile(path: string): Promise<WebhookSubscription[]> {
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return parseWebhookConfig(text);
}
