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
 * go to stderr as one line, with exit code 1 (2 for usage errors: an unknown
 * command, flag or argument, a missing or invalid flag value). Nothing is
 * ignored: `gc dry-run` is refused, never run as a real gc. The store must
 * exist (`import` fills a new one; `token create` may start one, but creates
 * no directories).
 *
 * @module
 */
import { type ParsedFlags, parseFlags } from "./flags.ts";
import { namespaceExists } from "../core/access.ts";
import type { Principal } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import { echo, isRegistryError } from "../base/errors.ts";
import { collectGarbage, DEFAULT_GC_GRACE_MS, parseDuration } from "../core/gc.ts";
import { isNamespace } from "../base/names.ts";
import { parseAuthConfig, type RackAuth } from "../core/rack/auth.ts";
import { type Action, ACTIONS, type Grant, GRANT_NAMESPACE_RE } from "../core/rows.ts";
import { createToken, listTokens, revokeToken } from "../core/tokens.ts";
import { listWebhookSubscriptions } from "../core/webhook_subscriptions.ts";
import { loadWebhookFile } from "../routes/rack/mod.ts";
import {
  exportStore,
  importStore,
  readLines,
  storeTotals,
  type TransferReport,
  verifyExport,
} from "../core/transfer.ts";
import { allVersionsPrefix } from "../storage/keys.ts";
import { rebuildSearchIndex } from "../core/search_index.ts";
import { parseServerArgs, type ServerConfig } from "./config.ts";
import { runRackMirrorCli } from "./rack_mirror.ts";
import { configPath, loadConfigFile } from "./config_file.ts";
import { formatBytes, formatTable, startProgress } from "./cli_output.ts";
import { type AuditFilter, listAudit } from "../core/audit.ts";
import {
  describeBundles,
  describeRows,
  openDiskReserve,
  type OpenedStores,
  openStores,
  parentDir,
} from "./open.ts";

/** The principal CLI commands act as: the operator with shell access to the store. */
export const CLI_PRINCIPAL: Principal = { subject: "cli", admin: true };

/** Usage of the operator commands. */
export const CLI_USAGE = `Usage:
  main.ts token create --subject=<s> --grant=<@ns|pattern|*>:<actions> [--grant=…]
                       [--expires=<future ISO date | 30d | 12h>] [--label=<text>] [--new-namespace]
  main.ts token list [--subject=<s>] [--json]
  main.ts token revoke <id>
  main.ts audit [--actor=<s>] [--action=<a>] [--target=<prefix>] [--outcome=ok|refused]
                [--since=<ISO>] [--until=<ISO>] [--limit=<n, default 100>] [--json]
  main.ts gc [--dry-run] [--grace=<1h>] [--json]
  main.ts export --out=<file.jsonl>     every row and blob, with an integrity trailer
  main.ts import --in=<file.jsonl> [--skip-existing]
                                        verified first; into an empty store all or nothing (a
                                        killed import resumes when run again); --skip-existing adds
                                        what is missing and names identical and conflicting rows
  main.ts reindex                       rebuild the search index from the package rows
  main.ts migrate ggui|rack <dir> …     move in from an original registry (see migrate --help)
  main.ts rack-mirror rebuild [--prune] | status
                                        Rack's R2 mirror: write it again from the store, or list
                                        what is pending (see rack-mirror --help)
Store flags as for the server: --storage, --bundles, --data-dir (and their environment).
On a terminal, lists print as tables and export, import and gc show a progress bar; --json (or a
pipe) prints JSON.
Actions: ${ACTIONS.join(", ")}.`;

/** The operator commands (`main.ts <command> …`). */
export const COMMAND_NAMES: readonly string[] = [
  "token",
  "gc",
  "export",
  "import",
  "audit",
  "reindex",
  "migrate",
  "rack-mirror",
];

/** Whether `args` name an operator command rather than server flags. */
export function isCliCommand(args: readonly string[]): boolean {
  return COMMAND_NAMES.includes(args[0] ?? "");
}

/** Where the CLI writes. */
export interface CliIo {
  /** Standard output. */
  out(line: string): void;
  /** Standard error. */
  err(line: string): void;
  /** Whether standard output is a terminal: tables instead of JSON (default false). */
  terminal?: boolean;
  /** Rewrite the progress line (a terminal's standard error); absent: no progress line. */
  progress?(line: string): void;
}

/** The process's own standard output and error. */
function processIo(): CliIo {
  const enc = new TextEncoder();
  return {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    terminal: Deno.stdout.isTerminal(),
    ...(Deno.stderr.isTerminal()
      ? { progress: (l: string) => void Deno.stderr.writeSync(enc.encode(`\r\x1b[K${l}`)) }
      : {}),
  };
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
  json: { type: "boolean" },
  "skip-existing": { type: "boolean" },
  actor: { type: "string" },
  action: { type: "string" },
  target: { type: "string" },
  outcome: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  limit: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type CliFlag = keyof typeof CLI_FLAGS;

/** Boolean flags, ours and the server's: `--flag value` never takes the next argument as their value. */
const BOOLEAN_FLAGS = new Set([
  "new-namespace",
  "dry-run",
  "json",
  "skip-existing",
  "help",
  "blueprint-probe",
  "public-ed25519",
  "init",
]);

/** The store flags every command takes (besides the rest of the server's). */
const STORE_FLAGS = ["storage", "bundles", "data-dir"];

/**
 * How a command treats a store that is not there yet: most act on an existing
 * one; `token create` may start a new store (the first admin token before the
 * first start) but creates no directories; `import` fills a new target.
 */
type StoreUse = "existing" | "new" | "target";

/** Each command: its own flags, its positional arguments, how it uses the store. */
const COMMANDS: Record<string, {
  flags: readonly CliFlag[];
  args: readonly string[];
  needs?: { flag: CliFlag; form: string };
  store: StoreUse;
}> = {
  "token create": {
    flags: ["subject", "grant", "expires", "label", "new-namespace"],
    args: [],
    needs: { flag: "subject", form: "" },
    store: "new",
  },
  "token list": { flags: ["subject", "json"], args: [], store: "existing" },
  "token revoke": { flags: [], args: ["a token id"], store: "existing" },
  gc: { flags: ["dry-run", "grace", "json"], args: [], store: "existing" },
  audit: {
    flags: ["actor", "action", "target", "outcome", "since", "until", "limit", "json"],
    args: [],
    store: "existing",
  },
  reindex: { flags: [], args: [], store: "existing" },
  export: {
    flags: ["out", "json"],
    args: [],
    needs: { flag: "out", form: "=<file>" },
    store: "existing",
  },
  import: {
    flags: ["in", "json", "skip-existing"],
    args: [],
    needs: { flag: "in", form: "=<file>" },
    store: "target",
  },
};

const TOKEN_COMMANDS = ["create", "list", "revoke"];

/** The longest `--expires` or `--grace` duration: a larger one is a typo, not a plan. */
const MAX_FLAG_DURATION_MS = 36_500 * 86_400_000;

const AUDIT_COLUMNS = ["at", "actor", "action", "target", "outcome", "ip"];

function grantText(g: Grant): string {
  return `${g.namespace}:${g.actions.join(",")}`;
}

/** The audit command's filters, as the admin API's `GET /admin/audit` takes them; a string: why not. */
function auditOptions(
  text: (flag: CliFlag) => string | undefined,
): (AuditFilter & { limit?: number }) | string {
  const out: AuditFilter & { limit?: number } = {};
  const outcome = text("outcome");
  if (outcome !== undefined && outcome !== "ok" && outcome !== "refused") {
    return `Invalid --outcome '${echo(outcome)}': ok or refused`;
  }
  if (outcome !== undefined) out.outcome = outcome;
  for (const flag of ["since", "until"] as const) {
    const v = text(flag);
    if (v === undefined) continue;
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(Date.parse(v))) {
      return `Invalid --${flag} '${
        echo(v)
      }': give an ISO date or time (2026-12-01 or 2026-12-01T08:00:00Z)`;
    }
    out[flag] = new Date(Date.parse(v)).toISOString();
  }
  const limit = text("limit");
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) {
      return `Invalid --limit '${echo(limit)}': a whole number from 1 to 1000`;
    }
    out.limit = Number(limit);
  }
  const actor = text("actor"), action = text("action"), target = text("target");
  if (actor !== undefined) out.actor = actor;
  if (action !== undefined) out.action = action;
  if (target !== undefined) out.targetPrefix = target;
  return out;
}

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

/** A `--grace` or `--expires` duration, at most {@linkcode MAX_FLAG_DURATION_MS}. */
function flagDuration(flag: string, text: string, form: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    // Well formed but past what a number of milliseconds holds: too long, as below.
    ms = /^\d+(ms|s|m|h|d)?$/.test(text.trim()) ? Infinity : NaN;
  }
  if (Number.isNaN(ms)) throw new Error(`Invalid --${flag} '${echo(text)}': ${form}`);
  if (ms > MAX_FLAG_DURATION_MS) {
    throw new Error(`Invalid --${flag} '${echo(text)}': at most 100 years (36500d); ${form}`);
  }
  return ms;
}

const EXPIRY_FORM = "give a future date (2027-01-31) or a duration (30d, 12h)";

/** `--expires`: a date or a duration from `now`, in the future either way. */
function expiry(text: string, now: Date): string {
  let ms: number;
  if (/^\d+(ms|s|m|h|d)$/.test(text)) {
    ms = now.getTime() + flagDuration("expires", text, EXPIRY_FORM);
  } else {
    // ISO dates only: Date.parse() also reads "5" or "March 7" as some year's date.
    ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
    if (!Number.isFinite(ms) || !Number.isFinite(new Date(ms).getTime())) {
      throw new Error(`Invalid --expires '${echo(text)}': ${EXPIRY_FORM}`);
    }
  }
  // A token that expires now or earlier is dead on arrival.
  if (!(ms > now.getTime())) {
    throw new Error(`Invalid --expires '${echo(text)}': it is not in the future; ${EXPIRY_FORM}`);
  }
  return new Date(ms).toISOString();
}

/** A positional argument nobody expected, with the flag it may have meant. */
function unexpected(arg: string, command: string, flags: readonly string[]): string {
  const name = arg.replace(/^-+/, "").split("=")[0]!;
  const hint = flags.includes(name) || STORE_FLAGS.includes(name)
    ? `did you mean --${arg.replace(/^-+/, "")}?`
    : command === "token revoke"
    ? "token revoke takes one token id"
    : `${command} takes no arguments`;
  return `unexpected argument '${echo(arg)}' (${hint})`;
}

/** The first line of an error's message. */
/** `12 rows and 3 blobs (1.2 MiB)`: what a transfer moved. */
function transferCounts(r: TransferReport): string {
  return `${r.rows} rows and ${r.blobs} blobs (${formatBytes(r.bytes)})`;
}

function errorLine(err: unknown): string {
  return err instanceof Error ? err.message.split("\n")[0]! : String(err);
}

/** A local file or directory a store lives in. */
interface StorePlace {
  /** The flag that names it. */
  flag: string;
  /** As an operator would write it. */
  spec: string;
  path: string;
}

/** Where a configuration's stores live on local disk (nothing for memory or a remote KV). */
function storePlaces(config: ServerConfig): StorePlace[] {
  const places: StorePlace[] = [];
  const localKv = (path: string | undefined): path is string =>
    path !== undefined && path !== ":memory:" && !/^https?:\/\//.test(path);
  const { storage, bundles } = config;
  if (storage.kind === "fs") {
    places.push({ flag: "--storage", spec: `fs:${storage.path}`, path: storage.path });
  }
  if (storage.kind === "kv" && localKv(storage.path)) {
    places.push({ flag: "--storage", spec: `kv:${storage.path}`, path: storage.path });
  }
  if (bundles.kind === "fs") {
    places.push({ flag: "--bundles", spec: `fs:${bundles.path}`, path: bundles.path });
  }
  if (bundles.kind === "kv" && storage.kind !== "kv") {
    // openStores() keeps KV blobs beside fs rows in <data-dir>/bundles.kv.
    const path = `${config.dataDir}/bundles.kv`;
    places.push({ flag: "--bundles", spec: `kv:${path}`, path });
  }
  return places;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Why a command may not open these stores (opening creates whatever is
 * missing, so a mistyped path would become a new, empty store), and which
 * stores it would start. No `refused`: go ahead.
 */
async function checkStores(
  config: ServerConfig,
  use: StoreUse,
): Promise<{ refused?: string; created: string[] }> {
  const created: string[] = [];
  const creating = new Set<string>();
  if (use === "target") return { created };
  for (const place of storePlaces(config)) {
    const found = await exists(place.path).catch((err) => {
      throw new Error(`Could not check the store ${place.spec}: ${errorLine(err)}`);
    });
    if (found) continue;
    if (use === "existing") {
      return {
        refused:
          `the store ${place.spec} does not exist (operator commands act on an existing store: check ${place.flag} and --data-dir)`,
        created,
      };
    }
    // Default blobs live inside a new fs store, which opening it creates first.
    const dir = parentDir(place.path);
    if (!creating.has(dir) && !(await exists(dir).catch(() => false))) {
      return {
        refused:
          `the directory '${dir}' of the store ${place.spec} does not exist (operator commands create no directories: check ${place.flag} and --data-dir)`,
        created,
      };
    }
    created.push(place.spec);
    creating.add(place.path);
  }
  return { created };
}

/** Open the stores, or say in one line which one failed and why. */
async function openOrExplain(config: ServerConfig): Promise<OpenedStores | string> {
  try {
    return await openStores(config);
  } catch (err) {
    const why = errorLine(err);
    // openStores() opens rows, then blobs, and does not say which failed: open the rows alone to tell.
    const rowsOpen = await openStores({ ...config, bundles: { kind: "memory" } }).then(
      async (s) => {
        await s.close();
        return true;
      },
      () => false,
    );
    return rowsOpen
      ? `could not open the bundle store ${describeBundles(config)}: ${why}`
      : `could not open the store ${describeRows(config)}: ${why}`;
  }
}

/** Split our own flags from the store flags the server parser understands. */
function split(args: readonly string[]): { own: string[]; store: string[] } {
  const own: string[] = [];
  const store: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = /^--([a-z0-9-]+)/.exec(a)?.[1];
    const target = name !== undefined && !(name in CLI_FLAGS) ? store : own;
    target.push(a);
    // `--flag value` form: keep the value with its flag.
    if (name !== undefined && !a.includes("=") && i + 1 < args.length) {
      if (!BOOLEAN_FLAGS.has(name) && !args[i + 1]!.startsWith("--")) target.push(args[++i]!);
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
  io: CliIo = processIo(),
): Promise<number> {
  const usage = (reason: string) => {
    io.err(`registry: ${reason}`);
    io.err(CLI_USAGE);
    return 2;
  };
  const [first, ...rest] = args;
  if (first === "migrate") {
    // Loaded when it runs: the migrators (and zod) stay out of the server's start-up.
    const { runMigrate } = await import("./migrate.ts");
    return await runMigrate(rest, env, io);
  }
  if (first === "rack-mirror") return await runRackMirrorCli(rest, env, io);
  let command = first ?? "";
  let tail = rest;
  if (first === "token") {
    const sub = rest[0];
    if (sub === "--help" || sub === "-h") {
      io.out(CLI_USAGE);
      return 0;
    }
    if (sub === undefined || sub.startsWith("-")) {
      return usage("token needs a command: create, list or revoke");
    }
    if (!TOKEN_COMMANDS.includes(sub)) return usage(`unknown token command '${echo(sub)}'`);
    command = `token ${sub}`;
    tail = rest.slice(1);
  }
  const spec = COMMANDS[command];
  if (!spec) return usage(`unknown command '${echo(command)}'`);
  const { own, store } = split(tail);
  let values: Partial<Record<CliFlag, ParsedFlags["values"][string]>>;
  let positionals: string[];
  try {
    const parsed = parseFlags(own, { options: CLI_FLAGS, allowPositionals: true });
    values = parsed.values;
    positionals = parsed.positionals;
  } catch (err) {
    return usage(errorLine(err));
  }
  if (values.help === true) {
    io.out(CLI_USAGE);
    return 0;
  }
  // A flag or an argument meant for another command, or a typo, is an error,
  // never ignored: `gc dry-run` must not run a real, deleting gc.
  for (const flag of Object.keys(values) as CliFlag[]) {
    if (flag !== "help" && !spec.flags.includes(flag)) {
      return usage(`${command} does not take --${flag}`);
    }
  }
  const extra = positionals[spec.args.length];
  if (extra !== undefined) return usage(unexpected(extra, command, spec.flags));
  const missing = spec.args[positionals.length];
  if (missing !== undefined) return usage(`${command} needs ${missing}`);
  const text = (flag: CliFlag) => {
    const v = values[flag];
    return typeof v === "string" ? v : undefined;
  };
  if (spec.needs !== undefined && text(spec.needs.flag) === undefined) {
    return usage(`${command} needs --${spec.needs.flag}${spec.needs.form}`);
  }
  // Flag values, checked before any store is opened; each message names the valid form.
  const clock = () => new Date();
  let grants: Grant[] = [];
  let expiresAt: string | undefined;
  let graceMs = DEFAULT_GC_GRACE_MS;
  try {
    grants = ((values.grant as string[] | undefined) ?? []).map(parseGrant);
    if (typeof values.expires === "string") expiresAt = expiry(values.expires, clock());
    if (typeof values.grace === "string") {
      graceMs = flagDuration("grace", values.grace, "give a duration such as 30m, 1h or 7d");
    }
  } catch (err) {
    io.err(`registry: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const audit = command === "audit" ? auditOptions(text) : undefined;
  if (typeof audit === "string") {
    io.err(`registry: ${audit}`);
    return 2;
  }
  const tables = io.terminal === true && values.json !== true;
  let file: Record<string, string> | undefined;
  try {
    const path = configPath(store, env);
    if (path !== undefined) file = await loadConfigFile(path);
  } catch (err) {
    io.err(`registry: ${errorLine(err)}`);
    return 1;
  }
  const server = parseServerArgs(store, env, file ? { file } : {});
  if (!server.ok) {
    if (server.help) {
      io.out(CLI_USAGE);
      return 0;
    }
    return usage(server.error);
  }
  let stores: OpenedStores;
  try {
    const checked = await checkStores(server.config, spec.store);
    if (checked.refused !== undefined) {
      io.err(`registry: ${checked.refused}`);
      return 1;
    }
    if (checked.created.length > 0) {
      io.err(`registry: creating a new store: ${checked.created.join(", ")}`);
    }
    const opened = await openOrExplain(server.config);
    if (typeof opened === "string") {
      io.err(`registry: ${opened}`);
      return 1;
    }
    stores = opened;
  } catch (err) {
    io.err(`registry: ${errorLine(err)}`);
    return 1;
  }
  const ctx: RegistryContext = { storage: stores.storage, bundles: stores.bundles, clock };
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
      // On a full disk the run gives up the reserve first (see server/disk_reserve.ts).
      const reserve = await openDiskReserve(server.config);
      const dryRun = values["dry-run"] === true;
      // A bar needs totals: counted (one more listing) only when a terminal shows it.
      const total = io.progress ? await storeTotals(ctx, [allVersionsPrefix()]) : undefined;
      const progress = startProgress(io, dryRun ? "gc (dry run)" : "gc", {
        total,
        weights: { row: 1, blob: 1, byte: 0 },
      });
      const report = await collectGarbage(reserve ? { ...ctx, reserve } : ctx, {
        dryRun,
        graceMs,
        actor: CLI_PRINCIPAL.subject,
        onProgress: (p) =>
          progress.update({ rows: p.versions, blobs: p.scanned, bytes: p.scannedBytes }),
      });
      progress.finish(
        `gc ${dryRun ? "found" : "deleted"} ${report.orphanCount} orphans (${
          formatBytes(report.bytes)
        }) among ${report.scanned} blobs, ${report.referenced} referenced, ${report.young} young`,
      );
      if (tables) {
        const { orphans: _listed, ...counts } = report;
        io.out(formatTable([counts as unknown as Record<string, unknown>], Object.keys(counts)));
      } else io.out(JSON.stringify(report, null, 2));
      return 0;
    }
    if (command === "reindex") {
      const report = await rebuildSearchIndex(ctx.storage, {
        onProgress: (r) => io.err(`registry: reindexed ${r.packages} packages`),
      });
      io.out(JSON.stringify(report));
      return 0;
    }
    if (audit !== undefined) {
      const page = await listAudit(ctx, audit);
      if (tables) {
        io.out(formatTable(page.items as unknown as Record<string, unknown>[], AUDIT_COLUMNS));
        if (page.cursor) io.out(`(more: --until=${page.items.at(-1)!.at})`);
      } else io.out(JSON.stringify(page, null, 2));
      return 0;
    }
    if (command === "export") {
      const out = text("out")!; // required above
      // A bar needs totals: counted (one more listing) only when a terminal shows it.
      const total = io.progress ? await storeTotals(ctx) : undefined;
      const progress = startProgress(io, "export", { total });
      let last: TransferReport = { rows: 0, blobs: 0, bytes: 0 };
      // Written beside the target and renamed into place: a failed export leaves no half file.
      const tmp = `${out}.partial`;
      const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      const writer = file.writable.getWriter();
      const enc = new TextEncoder();
      try {
        const lines = exportStore(ctx, (r) => {
          last = { ...r };
          progress.update(r);
        });
        for await (const line of lines) await writer.write(enc.encode(line));
        await writer.close();
      } catch (err) {
        await writer.abort().catch(() => {});
        await Deno.remove(tmp).catch(() => {});
        throw err;
      }
      await Deno.rename(tmp, out);
      progress.finish(`exported ${transferCounts(last)} to ${out}`);
      if (!tables) io.out(JSON.stringify({ out, ...last }));
      return 0;
    }
    if (command === "import") {
      const path = text("in")!; // required above
      const open = async () => readLines((await Deno.open(path)).readable);
      const counted = await verifyExport(await open());
      io.err(`registry: ${path} verified: ${counted.blobs} blobs, ${counted.rows} rows`);
      const progress = startProgress(io, "import", { total: counted });
      const report = await importStore(ctx, await open(), {
        onProgress: (r) => progress.update(r),
        exportDigest: counted.sha256,
        skipExisting: values["skip-existing"] === true,
      });
      progress.finish(
        `${report.resumed ? "imported (resumed)" : "imported"} ${
          transferCounts(report)
        } from ${path}`,
      );
      if (report.identicalCount > 0 || report.conflictCount > 0) {
        io.err(
          `registry: ${report.identicalCount} rows already there and identical, ${report.conflictCount} conflicting (kept as they were)`,
        );
        for (const name of report.conflicts) io.err(`registry: conflict: ${name}`);
        const unnamed = report.conflictCount - report.conflicts.length;
        if (unnamed > 0) io.err(`registry: and ${unnamed} more conflicts`);
      }
      if (!tables) io.out(JSON.stringify(report));
      return 0;
    }
    if (command === "token list") {
      const subject = text("subject");
      const tokens = await listTokens(ctx, subject ? { subject } : {});
      if (!tables) io.out(JSON.stringify(tokens, null, 2));
      else {
        io.out(formatTable(
          tokens.map((t) => ({ ...t, grants: t.grants.map(grantText).join(" ") })),
          ["id", "subject", "label", "grants", "createdAt", "expiresAt", "revokedAt"],
        ));
      }
      return 0;
    }
    if (command === "token revoke") {
      const id = positionals[0]!;
      if (!(await revokeToken(ctx, id, CLI_PRINCIPAL, await events()))) {
        io.err(`registry: token '${id}' not found`);
        return 1;
      }
      io.out(JSON.stringify({ id, revoked: true }));
      return 0;
    }
    if (command === "token create") {
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
          subject: text("subject")!, // required above
          grants,
          ...(text("label") !== undefined ? { label: text("label")! } : {}),
          ...(expiresAt !== undefined ? { expiresAt } : {}),
        },
        CLI_PRINCIPAL,
        await events(),
      );
      io.out(JSON.stringify(created, null, 2));
      return 0;
    }
    throw new TypeError(`Unhandled command '${command}'`);
  } catch (err) {
    io.err(`registry: ${isRegistryError(err) || err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await stores.close();
  }
}
