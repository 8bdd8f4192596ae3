/**
 * Operator commands of `main.ts`, run directly against the configured store
 * (same `--storage`, `--bundles`, `--data-dir` flags and environment as the
 * server; other processes may be serving the same store meanwhile):
 *
 * ```sh
 * main.ts token create --subject=ci --grant=@acme:read,publish [--grant=…] [--expires=30d|<ISO>] [--label=…] [--new-namespace]
 * main.ts token list [--subject=…]
 * main.ts token revoke <id>
 * main.ts gc [--dry-run] [--grace=1h]
 * ```
 *
 * Output is JSON on stdout (a created token's secret is shown once); errors
 * go to stderr with exit code 1 (2 for usage errors).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { namespaceExists } from "../core/access.ts";
import type { Principal } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import { isRegistryError } from "../core/errors.ts";
import { collectGarbage, DEFAULT_GC_GRACE_MS, parseDuration } from "../core/gc.ts";
import { isNamespace } from "../core/names.ts";
import { parseAuthConfig, type RackAuth } from "../core/rack/auth.ts";
import { type Action, ACTIONS, type Grant, GRANT_NAMESPACE_RE } from "../core/rows.ts";
import { createToken, listTokens, revokeToken } from "../core/tokens.ts";
import { listWebhookSubscriptions } from "../core/webhook_subscriptions.ts";
import { loadWebhookFile } from "../routes/_rack_auth_file.ts";
import {
  exportStore,
  importStore,
  readLines,
  type TransferReport,
  verifyExport,
} from "../core/transfer.ts";
import { parseServerArgs } from "./config.ts";
import { openStores } from "./open.ts";

/** The principal CLI commands act as: the operator with shell access to the store. */
export const CLI_PRINCIPAL: Principal = { subject: "cli", admin: true };

/** Usage of the operator commands. */
export const CLI_USAGE = `Usage:
  main.ts token create --subject=<s> --grant=<@ns|pattern|*>:<actions> [--grant=…]
                       [--expires=<ISO date | 30d | 12h>] [--label=<text>] [--new-namespace]
  main.ts token list [--subject=<s>]
  main.ts token revoke <id>
  main.ts gc [--dry-run] [--grace=<1h>]
  main.ts export --out=<file.jsonl>     every row and blob, with an integrity trailer
  main.ts import --in=<file.jsonl>      verified first; refuses rows the target already has
Store flags as for the server: --storage, --bundles, --data-dir (and their environment).
Actions: ${ACTIONS.join(", ")}.`;

/** Whether `args` name an operator command rather than server flags. */
export function isCliCommand(args: readonly string[]): boolean {
  return args[0] === "token" || args[0] === "gc" || args[0] === "export" || args[0] === "import";
}

/** Where the CLI writes. */
export interface CliIo {
  /** Standard output. */
  out(line: string): void;
  /** Standard error. */
  err(line: string): void;
}

const CLI_FLAGS = {
  subject: { type: "string" },
  grant: { type: "string", multiple: true },
  expires: { type: "string" },
  label: { type: "string" },
  "new-namespace": { type: "boolean" },
  "dry-run": { type: "boolean" },
  grace: { type: "string" },
  out: { type: "string" },
  in: { type: "string" },
} as const;

/** Parse `@ns:read,publish` (also `*:admin`, `@team-*:read`). */
export function parseGrant(text: string): Grant {
  const at = text.lastIndexOf(":");
  if (at <= 0) throw new Error(`Invalid grant '${text}': expected <namespace>:<actions>`);
  const namespace = text.slice(0, at);
  if (!GRANT_NAMESPACE_RE.test(namespace)) {
    throw new Error(
      `Invalid grant '${text}': the namespace is @scope, a pattern like @team-*, or * (got '${namespace}')`,
    );
  }
  const actions = text.slice(at + 1).split(",").map((a) => a.trim()).filter((a) => a !== "");
  for (const a of actions) {
    if (!(ACTIONS as readonly string[]).includes(a)) {
      throw new Error(
        `Invalid action '${a}' in grant '${text}' (actions: ${
          ACTIONS.join(", ")
        }, comma-separated)`,
      );
    }
  }
  if (actions.length === 0) throw new Error(`Invalid grant '${text}': no actions`);
  return { namespace, actions: actions as Action[] };
}

function expiry(text: string, now: Date): string {
  if (/^\d+(ms|s|m|h|d)$/.test(text)) {
    return new Date(now.getTime() + parseDuration(text)).toISOString();
  }
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new Error(`Invalid expiry '${text}': give a date (2027-01-31) or a duration (30d, 12h)`);
  }
  return new Date(ms).toISOString();
}

/** Split our own flags from the store flags the server parser understands. */
function split(args: readonly string[]): { own: string[]; store: string[] } {
  const own: string[] = [];
  const store: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = /^--([a-z-]+)/.exec(a)?.[1];
    const target = name !== undefined && !(name in CLI_FLAGS) ? store : own;
    target.push(a);
    // `--flag value` form: keep the value with its flag.
    if (name !== undefined && !a.includes("=") && i + 1 < args.length) {
      const isBool = name === "new-namespace" || name === "dry-run";
      if (!isBool && !args[i + 1]!.startsWith("--")) target.push(args[++i]!);
    }
  }
  return { own, store };
}

/**
 * Run an operator command; answers the exit code.
 *
 * @example
 * ```ts ignore
 * const code = await runCli(["token", "list", "--storage=kv:./data/registry.kv"], Deno.env.toObject());
 * ```
 */
export async function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const [command, ...rest] = args;
  const sub = command === "token" ? rest[0] : undefined;
  const tail = command === "token" ? rest.slice(1) : rest;
  const { own, store } = split(tail);
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: own,
      options: CLI_FLAGS,
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    io.err(`registry: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
    io.err(CLI_USAGE);
    return 2;
  }
  const server = parseServerArgs(store, env);
  if (!server.ok) {
    io.err(`registry: ${server.help ? "" : server.error}`);
    io.err(CLI_USAGE);
    return 2;
  }
  const stores = await openStores(server.config);
  const ctx: RegistryContext = {
    storage: stores.storage,
    bundles: stores.bundles,
    clock: () => new Date(),
  };
  /** Token events go to the subscriptions a server on this store would tell: the file's and the stored ones. */
  const events = async () => {
    const file = server.config.webhookConfig;
    return {
      subscriptions: [
        ...(file ? await loadWebhookFile(file) : []),
        ...(await listWebhookSubscriptions(ctx)),
      ],
    };
  };
  try {
    if (command === "gc") {
      const report = await collectGarbage(ctx, {
        dryRun: values["dry-run"] === true,
        graceMs: typeof values.grace === "string"
          ? parseDuration(values.grace)
          : DEFAULT_GC_GRACE_MS,
        actor: CLI_PRINCIPAL.subject,
      });
      io.out(JSON.stringify(report, null, 2));
      return 0;
    }
    const progress = (what: string) => (r: TransferReport) =>
      io.err(
        `registry: ${what} ${r.blobs} blobs (${
          (r.bytes / 1048576).toFixed(1)
        } MiB), ${r.rows} rows`,
      );
    if (command === "export") {
      if (typeof values.out !== "string") {
        io.err("registry: export needs --out=<file>");
        return 2;
      }
      // Written beside the target and renamed into place: a failed export leaves no half file.
      const tmp = `${values.out}.partial`;
      const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      const writer = file.writable.getWriter();
      const enc = new TextEncoder();
      try {
        for await (const line of exportStore(ctx, progress("exported"))) {
          await writer.write(enc.encode(line));
        }
        await writer.close();
      } catch (err) {
        await writer.abort().catch(() => {});
        await Deno.remove(tmp).catch(() => {});
        throw err;
      }
      await Deno.rename(tmp, values.out);
      io.out(JSON.stringify({ out: values.out }));
      return 0;
    }
    if (command === "import") {
      if (typeof values.in !== "string") {
        io.err("registry: import needs --in=<file>");
        return 2;
      }
      const path = values.in;
      const open = async () => readLines((await Deno.open(path)).readable);
      const counted = await verifyExport(await open());
      io.err(`registry: ${path} verified: ${counted.blobs} blobs, ${counted.rows} rows`);
      const report = await importStore(ctx, await open(), progress("imported"));
      io.out(JSON.stringify(report));
      return 0;
    }
    if (sub === "list") {
      const subject = typeof values.subject === "string" ? values.subject : undefined;
      io.out(JSON.stringify(await listTokens(ctx, subject ? { subject } : {}), null, 2));
      return 0;
    }
    if (sub === "revoke") {
      const id = positionals[0];
      if (id === undefined) {
        io.err("registry: token revoke needs a token id");
        return 2;
      }
      if (!(await revokeToken(ctx, id, CLI_PRINCIPAL, await events()))) {
        io.err(`registry: token '${id}' not found`);
        return 1;
      }
      io.out(JSON.stringify({ id, revoked: true }));
      return 0;
    }
    if (sub === "create") {
      if (typeof values.subject !== "string") {
        io.err("registry: token create needs --subject");
        return 2;
      }
      const grants = ((values.grant as string[] | undefined) ?? []).map(parseGrant);
      if (values["new-namespace"] !== true) {
        let rackAuth: RackAuth | undefined;
        if (server.config.authConfig) {
          const text = await Deno.readTextFile(server.config.authConfig).catch(() => null);
          rackAuth = parseAuthConfig(text).auth;
        }
        for (const g of grants) {
          if (isNamespace(g.namespace) && !(await namespaceExists(ctx, g.namespace, rackAuth))) {
            io.err(
              `registry: namespace '${g.namespace}' does not exist (pass --new-namespace to grant it anyway)`,
            );
            return 1;
          }
        }
      }
      const created = await createToken(
        ctx,
        {
          subject: values.subject,
          grants,
          ...(typeof values.label === "string" ? { label: values.label } : {}),
          ...(typeof values.expires === "string"
            ? { expiresAt: expiry(values.expires, ctx.clock()) }
            : {}),
        },
        CLI_PRINCIPAL,
        await events(),
      );
      io.out(JSON.stringify(created, null, 2));
      return 0;
    }
    io.err(CLI_USAGE);
    return 2;
  } catch (err) {
    io.err(`registry: ${isRegistryError(err) || err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await stores.close();
  }
}
