/**
 * The server's configuration from flags and environment, with the original
 * servers' names accepted as aliases: ggui's `registry-server` flags and
 * `GGUI_REGISTRY_TOKEN`, and Rack's environment (`PORT`, `HOST`,
 * `STORAGE_ROOT`, `AUTH_CONFIG_PATH`, `ADMIN_TOKEN`, …). Flags win over the
 * environment. Pure: parsing touches no file and no network.
 *
 * @module
 */
import { isReservedSubject } from "../core/auth.ts";
import { SCOPE_RE } from "../core/ggui/manifest_grammar.ts";
import { suggest } from "./suggest.ts";
import { FlagError, parseFlags } from "./flags.ts";
import { type LogFormat, type LogLevel, normalizeLevel } from "./logger.ts";
import type { JsrUpstreamConfig } from "../core/jsr/upstream.ts";
import {
  type GguiUpstreamFlags,
  parseGguiUpstreamFlags,
  parseUpstreamFlags,
  UPSTREAM_FLAGS,
  UPSTREAM_USAGE,
} from "./upstream_options.ts";
import {
  parseR2Bundles,
  parseRackMirror,
  parseS3Bundles,
  type S3BundlesSpec,
} from "./s3_config.ts";

/** A host name, IPv4 or bracketed IPv6 address, and an optional port. */
const HOST_PORT_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Where rows live. */
export type StorageSpec =
  | { kind: "memory" }
  | { kind: "fs"; path: string }
  | { kind: "kv"; path?: string };

/** Where blobs live. */
export type BundlesSpec =
  | { kind: "memory" }
  | { kind: "kv" }
  | { kind: "fs"; path: string }
  | S3BundlesSpec;

/** Everything `main.ts` needs to start a server. */
export interface ServerConfig {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Listen address. */
  host: string;
  /** The data directory for the embedded defaults. */
  dataDir: string;
  /** Row storage. */
  storage: StorageSpec;
  /** Blob storage. */
  bundles: BundlesSpec;
  /** The bucket Rack's R2 mirror writes Rack's key layout to (absent: no mirror). */
  rackMirror?: S3BundlesSpec;
  /** ggui single bearer token. */
  token?: string;
  /** Subject of the ggui token. */
  subject?: string;
  /** Prefix of blob URLs (derived from the listen address when absent). */
  bundleHost?: string;
  /** Host used in install commands (derived when absent). */
  registryHostname?: string;
  /** Rack's admin token. */
  adminToken?: string;
  /** Rack's auth.json. */
  authConfig?: string;
  /** Rack's webhooks.json. */
  webhookConfig?: string;
  /** Directory with the JSON Schemas to serve instead of the built-in ones. */
  schemaDir?: string;
  /** Whether X-Forwarded-For names the client (true, false or a hop count). */
  trustProxy: boolean | number;
  /** Largest Rack upload in bytes. */
  maxUploadBytes: number;
  /** Scopes nobody can claim (ggui). */
  reservedScopes?: string[];
  /** The least level of the server's own log lines written (the request log is info). */
  logLevel: LogLevel;
  /** JSON or readable log lines; unset: readable on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  /** Running on Deno Deploy (no local disk; nothing is written outside the store). */
  deploy: boolean;
  /** Create store paths that do not exist yet (`--init`); without it only the default data directory is. */
  init?: boolean;
  /** Rows and blobs are the defaults under the default data directory (created implicitly). */
  defaultStore?: boolean;
  /** Private-network webhook hosts that may still be called. */
  webhookAllowHosts?: string[];
  /** Delays before webhook retries, in ms (default the original's 2000, 4000, 8000). */
  webhookRetryDelaysMs?: number[];
  /** Requests per client IP per minute on Rack's routes (0: off). */
  rateLimit: number;
  /** Reads of immutable files, bundles and version documents per client IP per minute (0: off). */
  readRateLimit: number;
  /** Listings, package documents and other requests per client IP per minute (0: off). */
  metadataRateLimit: number;
  /** Searches and conformance checks per client IP per minute (0: off). */
  queryRateLimit: number;
  /** Uploads and publishes without a token per client IP per minute (0: off). */
  uploadRateLimit: number;
  /** Uploads and publishes per presented token per minute (0: off). */
  tokenUploadRateLimit: number;
  /** Failed authentications per client IP per minute (0: off). */
  authFailureLimit: number;
  /** Bearer token required on /metrics. */
  metricsToken?: string;
  /** How long hot reads may serve a row from memory, in ms. */
  readCacheMs: number;
  /** How long a connection may take to send a request's head, in ms (0: no limit). */
  headerTimeoutMs: number;
  /** How long a request body may send nothing while it is read, in ms (0: no limit). */
  bodyTimeoutMs: number;
  /** Request bodies one client address may be sending at once (0: no limit). */
  maxPendingBodies: number;
  /** Open connections from one peer address (0: no limit). */
  maxConnectionsPerAddress: number;
  /** Bytes of the disk reserve beside a local store, given up by gc on a full disk (0: none). */
  diskReserveBytes: number;
  /** Write one JSON line per request to stdout. */
  logRequests: boolean;
  /** Serve the web pages for people (docs/ui.md; default true). */
  ui: boolean;
  /** JSR: visibility of packages in namespaces auth.json does not declare. */
  jsrVisibility: "public" | "private";
  /** Run the ggui blueprint runtime probe on publish (opt-in). */
  blueprintProbe?: boolean;
  /** ggui public lane trust material: a sigstore `trusted_root.json` file. */
  sigstoreTrustedRoot?: string;
  /** ggui public lane trust material: a sigstore TUF mirror URL. */
  sigstoreTufMirror?: string;
  /** Accept Ed25519 author-key signatures on public ggui artifacts (opt-in). */
  publicEd25519?: boolean;
  /** JSR: the upstream read for namespaces this registry does not own (absent: off). */
  jsrUpstream?: JsrUpstreamConfig;
  /** ggui: the upstream read for scopes this registry does not own (absent: off). */
  gguiUpstream?: GguiUpstreamFlags;
}

/** A parse outcome: a config, help, or a one-line reason to exit 2. */
export type ParseResult =
  | { ok: true; config: ServerConfig }
  | { ok: false; help: true }
  | { ok: false; help?: false; error: string };

/** The usage text. */
export const USAGE = `Usage: registry-server [options]
       registry-server <command> [options]

Serves three registry surfaces from one store: ggui (gadgets and blueprints, /pkg, /publish),
Rack (/registries, /namespaces, tarball uploads) and JSR (deno add/publish with JSR_URL).

Commands (same store flags; tables on a terminal, JSON with --json; main.ts <command> --help):
  token create|list|revoke …         stored tokens with grants (docs/access.md)
  audit [--actor=…] [--action=…] [--target=…] [--outcome=…] [--since=…] [--until=…]
                                     the audit log, newest first (docs/lifecycle.md)
  gc [--dry-run] [--grace=1h]        sweep unreferenced blobs
  export --out=<file>                every row and blob, with an integrity trailer
  import --in=<file> [--skip-existing]
                                     into an empty store, resumable; or add what is missing
  reindex                            rebuild the search index from the package rows
  migrate ggui|rack <dir> [--dry-run] …
                                     move in from an original registry (docs/migrating.md)
  rack-mirror rebuild [--prune] | status
                                     Rack's R2 mirror: write it again from the store, or list
                                     what is still pending (docs/scaling.md)
  mirror jsr:<name>@<range> … [--from=<list file or deno.lock>]
                                     fill the JSR upstream cache ahead of time (docs/jsr.md)
  config --print [options]           the merged configuration, secrets masked
  --version                          program and data-format version

Options (each as --flag=value or --flag value; precedence: flag > env > --config file > default):
  --config <file>            JSON or JSONC file keyed by flag name (schemas/config.schema.json;
                             env REGISTRY_CONFIG)
  --port <n>                 TCP port, 0 picks a free one (default 9001; env PORT)
  --host <addr>              listen address (default 0.0.0.0; env HOST)
  --data-dir <dir>           data directory for the embedded default (default ./registry-data;
                             env STORAGE_ROOT)
  --init                     create the store paths given (KV file, fs directories) when they do
                             not exist; without it only the default ./registry-data is created
  --storage <spec>           memory | fs:<dir> | kv[:<file or https URL>]
                             (default kv:<data-dir>/registry.kv)
  --bundles <spec>           kv | fs:<dir> | memory | s3:<bucket>[/<prefix>] (default
                             fs:<data-dir>/bundles with a local KV file or fs storage; kv with
                             a remote or default Deploy KV). s3 takes AWS_ACCESS_KEY_ID,
                             AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN from the environment
  --s3-endpoint <url>        S3-API endpoint, e.g. http://127.0.0.1:9000 (env S3_ENDPOINT;
                             default AWS's for the region)
  --s3-region <region>       signing region (env AWS_REGION; default us-east-1)
  --s3-style <style>         path | virtual addressing (default path with an endpoint)
  --rack-mirror <spec>       on | off | s3:<bucket>: also write Rack's key layout (R2 mode) for
                             Rack's read Worker, after each commit (env RACK_MIRROR; default on
                             with STORAGE_BACKEND=r2, else off; docs/scaling.md)
  --token <secret>           ggui bearer token (env GGUI_REGISTRY_TOKEN)
  --subject <name>           subject of that token (default bearer-<sha256 prefix>; not rack:…)
  --bundle-host <url>        prefix of blob URLs (default: the request's Host, or X-Forwarded-Host
                             and -Proto when --trust-proxy allows)
  --registry-hostname <h>    host[:port] used in install commands (default: as --bundle-host)
  --reserved-scopes <list>   comma-separated scopes nobody may claim
  --admin-token <secret>     Rack admin token (env ADMIN_TOKEN)
  --auth-config <file>       Rack auth.json (env AUTH_CONFIG_PATH)
  --webhook-config <file>    Rack webhooks.json (env WEBHOOK_CONFIG_PATH)
  --webhook-allow-hosts <l>  comma-separated private hosts webhooks may call (env WEBHOOK_ALLOW_HOSTS)
  --webhook-retry-delays <l> ms before each retry, comma-separated (default 2000,4000,8000)
  --schema-dir <dir>         serve JSON Schemas from here (env SCHEMA_DIR)
  --trust-proxy <v>          true | false | hop count (env TRUST_PROXY)
  --max-upload-bytes <n>     largest Rack upload (default 104857600)
  --disk-reserve-bytes <n>   space kept beside a local store for gc on a full disk, 0 = none
                             (default 8388608)
  Rate limits (per minute, 0 = off; docs/operations.md says why these defaults):
  --rate-limit <n>           Rack routes, per client IP, as the Rack original (default 1200;
                             env RATE_LIMIT)
  --read-rate-limit <n>      immutable reads (files, bundles, version documents) per client IP
                             (default 0 = off: one install fetches hundreds of files)
  --metadata-rate-limit <n>  listings, meta.json, package documents, admin API per client IP
                             (default 6000)
  --query-rate-limit <n>     searches and conformance checks per client IP (default 300)
  --upload-rate-limit <n>    uploads/publishes without a token, per client IP (default 60)
  --token-upload-rate-limit <n>
                             uploads/publishes per presented token, whatever its address
                             (default 600; all processes on one store share these counts)
  --auth-failure-limit <n>   failed authentications per client IP (default 30)
  --metrics-token <secret>   require this bearer token on /metrics and show it everything; without
                             one /metrics is open and counts public activity only (env METRICS_TOKEN)
  --read-cache-ms <n>        serve hot reads from memory this long, 0 = off (default 500)
  --header-timeout-ms <n>    close a connection that has not sent a whole request head this long
                             after it opened or its last response, 0 = off (default 10000)
  --body-timeout-ms <n>      answer 408 to a request body that sends nothing this long, 0 = off
                             (default 30000)
  --max-pending-bodies <n>   request bodies one client IP may be sending at once; one more gets
                             429, 0 = off (default 64)
  --max-connections-per-address <n>
                             open connections from one peer address; more are closed at once,
                             0 = off (default 0; see docs/operations.md)
  --log-requests <bool>      one JSON line per request on stdout (default true)
  --ui <bool>                the web pages for people, docs/ui.md (default true)
  --jsr-visibility <v>       JSR packages in namespaces auth.json does not declare: private |
                             public (default private; env JSR_VISIBILITY)
${UPSTREAM_USAGE}  --log-level <level>        least level of the server's log lines: debug | info | warn | error |
                             silent; the request log is info (default info; env LOG_LEVEL)
  --log-format <f>           json | pretty (default pretty on a terminal, json otherwise; env
                             LOG_FORMAT)
  --sigstore-trusted-root <file>
                             ggui public lane: verify sigstore bundles against this trusted_root.json
  --sigstore-tuf-mirror <url>
                             ggui public lane: fetch the trusted root from this TUF mirror (e.g.
                             https://tuf-repo-cdn.sigstore.dev); with neither, public publishes are
                             refused with signature_invalid, as the original does offline
  --public-ed25519           also accept Ed25519 author-key signatures on public ggui artifacts
  --blueprint-probe          render each published blueprint in a sandboxed child process
                             (needs --allow-run; see docs/conformance.md)
  -h, --help                 show this help
Limits apply per client IP unless they say otherwise; a token's uploads count against
--token-upload-rate-limit only. Full table with defaults: docs/configuration.md.
`;

/** The data directory used when none is given: the only store path created without `--init`. */
export const DEFAULT_DATA_DIR = "./registry-data";

const STRING_FLAGS = [
  "config",
  "port",
  "host",
  "data-dir",
  "storage",
  "bundles",
  "s3-endpoint",
  "s3-region",
  "s3-style",
  "rack-mirror",
  "token",
  "subject",
  "bundle-host",
  "registry-hostname",
  "reserved-scopes",
  "admin-token",
  "auth-config",
  "webhook-config",
  "webhook-allow-hosts",
  "webhook-retry-delays",
  "schema-dir",
  "trust-proxy",
  "max-upload-bytes",
  "disk-reserve-bytes",
  "rate-limit",
  "read-rate-limit",
  "metadata-rate-limit",
  "query-rate-limit",
  "upload-rate-limit",
  "token-upload-rate-limit",
  "auth-failure-limit",
  "metrics-token",
  "read-cache-ms",
  "header-timeout-ms",
  "body-timeout-ms",
  "max-pending-bodies",
  "max-connections-per-address",
  "log-requests",
  "ui",
  "jsr-visibility",
  "log-level",
  "log-format",
  "sigstore-trusted-root",
  "sigstore-tuf-mirror",
  ...UPSTREAM_FLAGS,
] as const;

/** Boolean flags of the server. */
const BOOLEAN_SERVER_FLAGS = ["help", "blueprint-probe", "public-ed25519", "init"] as const;

/** Every flag the server takes, for "did you mean". */
export const KNOWN_FLAGS: readonly string[] = [...STRING_FLAGS, ...BOOLEAN_SERVER_FLAGS];

function parsePort(value: string, source: string): number | string {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    return `${source} must be an integer from 0 to 65535 (got '${value}')`;
  }
  return Number(value);
}

function parseStorage(value: string, dataDir: string): StorageSpec | string {
  if (value === "memory") return { kind: "memory" };
  if (value === "kv") return { kind: "kv", path: `${dataDir}/registry.kv` };
  if (value.startsWith("kv:")) {
    const path = value.slice(3);
    return path === "" ? { kind: "kv" } : { kind: "kv", path };
  }
  if (value.startsWith("fs:") && value.length > 3) return { kind: "fs", path: value.slice(3) };
  return `--storage must be memory, fs:<dir> or kv[:<path>] (got '${value}')`;
}

function parseBundles(
  value: string,
  s3: () => S3BundlesSpec | string,
): BundlesSpec | string {
  if (value === "memory") return { kind: "memory" };
  if (value.startsWith("s3:")) return s3();
  if (value === "kv") return { kind: "kv" };
  if (value.startsWith("fs:") && value.length > 3) return { kind: "fs", path: value.slice(3) };
  return `--bundles must be kv, fs:<dir>, memory or s3:<bucket>[/<prefix>] (got '${value}')`;
}

function defaultBundles(storage: StorageSpec): BundlesSpec {
  if (storage.kind === "memory") return { kind: "memory" };
  // A local store keeps blobs as files beside it; a remote or default
  // (Deno Deploy) KV database keeps them in KV, since there is no shared disk.
  const dir = storeDir(storage);
  return dir === undefined ? { kind: "kv" } : { kind: "fs", path: `${dir}/bundles` };
}

/**
 * The local directory a store lives in: an fs store's directory, a KV file's
 * directory; `undefined` for memory and for a remote or default (Deploy) KV.
 * What is kept beside the store (default bundles, the generated admin token) goes there.
 */
export function storeDir(storage: StorageSpec): string | undefined {
  if (storage.kind === "fs") return storage.path;
  if (storage.kind !== "kv" || storage.path === undefined) return undefined;
  return /^https?:\/\//.test(storage.path) ? undefined : dirname(storage.path);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

/**
 * Parse flags and environment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServerArgs } from "./config.ts";
 * const r = parseServerArgs(["--port", "0", "--storage=memory"], {});
 * assert.ok(r.ok && r.config.port === 0 && r.config.storage.kind === "memory");
 * ```
 */
export function parseServerArgs(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { file?: Readonly<Record<string, string>> } = {},
): ParseResult {
  const file = options.file ?? {};
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseFlags(args, {
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        help: { type: "boolean", short: "h" },
        "blueprint-probe": { type: "boolean" },
        "public-ed25519": { type: "boolean" },
        init: { type: "boolean" },
      },
    });
    values = parsed.values as typeof values;
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    const near = err.unknown === undefined ? undefined : suggest(err.unknown, KNOWN_FLAGS);
    const hint = near === undefined ? "" : ` (did you mean --${near}?)`;
    return { ok: false, error: err.message.replace(/\.$/, "") + hint };
  }
  if (values.help) return { ok: false, help: true };
  const flag = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  const pick = (name: string, envName?: string): string | undefined => {
    // Precedence: flag > environment > --config file > default (at each call site).
    const v = flag(name) ?? (envName ? env[envName] : undefined) ?? file[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  for (const name of STRING_FLAGS) {
    if (flag(name) !== undefined && flag(name)!.trim() === "") {
      // An empty --token is a mistake (an unset variable, say), never a request
      // for the generated admin token: omitting the flag asks for that.
      const hint = name === "token" ? " (omit it to use the generated admin token)" : "";
      return { ok: false, error: `--${name} needs a value${hint}` };
    }
  }

  const portText = pick("port", "PORT") ?? "9001";
  const port = parsePort(portText, flag("port") !== undefined ? "--port" : "PORT");
  if (typeof port === "string") return { ok: false, error: port };

  const dataDirText = pick("data-dir", "STORAGE_ROOT");
  const dataDir = dataDirText ?? DEFAULT_DATA_DIR;
  const r2 = env.STORAGE_BACKEND === "r2";
  if (env.STORAGE_BACKEND !== undefined && !["", "local", "r2"].includes(env.STORAGE_BACKEND)) {
    return {
      ok: false,
      error: `STORAGE_BACKEND=${env.STORAGE_BACKEND} is not supported: use --storage and --bundles`,
    };
  }
  // On Deno Deploy (DENO_DEPLOYMENT_ID is set) there is no local disk: the
  // default is the platform's KV database for rows and blobs alike.
  const deploy = (env.DENO_DEPLOYMENT_ID ?? "") !== "";
  const storageText = pick("storage");
  const storage = parseStorage(storageText ?? (deploy ? "kv:" : "kv"), dataDir);
  if (typeof storage === "string") return { ok: false, error: storage };
  if (storage.kind === "kv" && storage.path === undefined && !deploy) {
    // Off Deploy, Deno's default database is a file in its cache directory: rows nobody would find.
    return {
      ok: false,
      error:
        `--storage=kv: names no file (the default database is Deno Deploy's): write --storage=kv:${dataDir}/registry.kv or omit --storage`,
    };
  }
  const bundlesText = pick("bundles");
  const s3 = (text: string, flag?: string) => () =>
    parseS3Bundles(text, {
      endpoint: pick("s3-endpoint"),
      region: pick("s3-region"),
      style: pick("s3-style"),
      ...(flag ? { flag } : {}),
    }, env);
  const bundles = bundlesText
    ? parseBundles(bundlesText, s3(bundlesText))
    : r2
    ? parseR2Bundles(env, pick("s3-endpoint", "S3_ENDPOINT"))
    : defaultBundles(storage);
  if (typeof bundles === "string") return { ok: false, error: bundles };
  const rackMirror = parseRackMirror(pick("rack-mirror", "RACK_MIRROR"), {
    bundles,
    r2,
    s3: (text) => s3(text, "--rack-mirror")(),
  });
  if (typeof rackMirror === "string") return { ok: false, error: rackMirror };
  if (storage.kind !== "memory" && bundles.kind === "memory") {
    return { ok: false, error: "--bundles=memory needs --storage=memory" };
  }

  const trustText = pick("trust-proxy", "TRUST_PROXY") ?? "false";
  let trustProxy: boolean | number;
  if (trustText === "true" || trustText === "false") trustProxy = trustText === "true";
  else if (/^[1-9]\d*$/.test(trustText)) trustProxy = Number(trustText);
  else {return {
      ok: false,
      error: `--trust-proxy must be true, false or a hop count (got '${trustText}')`,
    };}

  const maxText = pick("max-upload-bytes") ?? "104857600";
  if (!/^[1-9]\d*$/.test(maxText)) {
    return { ok: false, error: `--max-upload-bytes must be a positive integer (got '${maxText}')` };
  }

  const counts: Record<string, number> = {};
  for (
    const [name, envName, fallback] of [
      ["rate-limit", "RATE_LIMIT", "1200"],
      ["read-rate-limit", undefined, "0"],
      ["metadata-rate-limit", undefined, "6000"],
      ["query-rate-limit", undefined, "300"],
      ["upload-rate-limit", undefined, "60"],
      ["token-upload-rate-limit", undefined, "600"],
      ["auth-failure-limit", undefined, "30"],
      ["read-cache-ms", undefined, "500"],
      ["header-timeout-ms", undefined, "10000"],
      ["body-timeout-ms", undefined, "30000"],
      ["max-pending-bodies", undefined, "64"],
      ["max-connections-per-address", undefined, "0"],
      ["disk-reserve-bytes", undefined, "8388608"],
    ] as const
  ) {
    const text = pick(name, envName) ?? fallback;
    if (!/^\d{1,9}$/.test(text)) {
      return { ok: false, error: `--${name} must be a whole number (got '${text}')` };
    }
    counts[name] = Number(text);
  }
  const uiText = pick("ui") ?? "true";
  if (uiText !== "true" && uiText !== "false") {
    return { ok: false, error: `--ui must be true or false (got '${uiText}')` };
  }
  const logText = pick("log-requests") ?? "true";
  if (logText !== "true" && logText !== "false") {
    return { ok: false, error: `--log-requests must be true or false (got '${logText}')` };
  }

  const jsrVisibility = pick("jsr-visibility", "JSR_VISIBILITY") ?? "private";
  if (jsrVisibility !== "private" && jsrVisibility !== "public") {
    return {
      ok: false,
      error: `--jsr-visibility must be private or public (got '${jsrVisibility}')`,
    };
  }

  const bundleHost = pick("bundle-host");
  if (bundleHost !== undefined && !/^https?:\/\/[^/\s]+(\/.*)?$/.test(bundleHost)) {
    return { ok: false, error: `--bundle-host must be an http(s) URL (got '${bundleHost}')` };
  }
  const logLevelText = pick("log-level", "LOG_LEVEL") ?? "info";
  const logLevel = normalizeLevel(logLevelText);
  if (logLevel === undefined) {
    return {
      ok: false,
      error: `--log-level must be debug, info, warn, error or silent (got '${logLevelText}')`,
    };
  }
  const logFormat = pick("log-format", "LOG_FORMAT");
  if (logFormat !== undefined && logFormat !== "json" && logFormat !== "pretty") {
    return { ok: false, error: `--log-format must be json or pretty (got '${logFormat}')` };
  }

  const config: ServerConfig = {
    port,
    host: pick("host", "HOST") ?? "0.0.0.0",
    dataDir,
    storage,
    bundles,
    trustProxy,
    maxUploadBytes: Number(maxText),
    logLevel,
    deploy,
    rateLimit: counts["rate-limit"]!,
    readRateLimit: counts["read-rate-limit"]!,
    metadataRateLimit: counts["metadata-rate-limit"]!,
    queryRateLimit: counts["query-rate-limit"]!,
    uploadRateLimit: counts["upload-rate-limit"]!,
    tokenUploadRateLimit: counts["token-upload-rate-limit"]!,
    authFailureLimit: counts["auth-failure-limit"]!,
    readCacheMs: counts["read-cache-ms"]!,
    headerTimeoutMs: counts["header-timeout-ms"]!,
    bodyTimeoutMs: counts["body-timeout-ms"]!,
    maxPendingBodies: counts["max-pending-bodies"]!,
    maxConnectionsPerAddress: counts["max-connections-per-address"]!,
    diskReserveBytes: counts["disk-reserve-bytes"]!,
    logRequests: logText === "true",
    ui: uiText === "true",
    jsrVisibility,
    ...(rackMirror ? { rackMirror } : {}),
  };
  const optional = {
    token: pick("token", "GGUI_REGISTRY_TOKEN"),
    subject: pick("subject"),
    bundleHost: bundleHost?.replace(/\/+$/, ""),
    registryHostname: pick("registry-hostname"),
    adminToken: pick("admin-token", "ADMIN_TOKEN"),
    authConfig: pick("auth-config", "AUTH_CONFIG_PATH"),
    webhookConfig: pick("webhook-config", "WEBHOOK_CONFIG_PATH"),
    schemaDir: pick("schema-dir", "SCHEMA_DIR"),
    metricsToken: pick("metrics-token", "METRICS_TOKEN"),
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (config as unknown as Record<string, unknown>)[k] = v;
  }
  if (optional.subject !== undefined && isReservedSubject(optional.subject)) {
    return {
      ok: false,
      error:
        `--subject '${optional.subject}' is reserved for the server's own identities (rack:…, anonymous, system, cli)`,
    };
  }
  const delays = pick("webhook-retry-delays", "WEBHOOK_RETRY_DELAYS");
  if (delays !== undefined) {
    const parts = delays.split(",").map((s) => s.trim());
    if (parts.length > 10 || parts.some((p) => !/^\d{1,7}$/.test(p))) {
      return {
        ok: false,
        error:
          `--webhook-retry-delays must be up to 10 comma-separated milliseconds (got '${delays}')`,
      };
    }
    config.webhookRetryDelaysMs = parts.map(Number);
  }
  const allow = pick("webhook-allow-hosts", "WEBHOOK_ALLOW_HOSTS");
  if (allow !== undefined) {
    config.webhookAllowHosts = allow.split(",").map((s) => s.trim()).filter(Boolean);
  }
  const hostname = config.registryHostname;
  if (hostname !== undefined && !HOST_PORT_RE.test(hostname)) {
    return {
      ok: false,
      error:
        `--registry-hostname is a host[:port] without scheme or path, e.g. registry.example.com (got '${hostname}')`,
    };
  }
  const reserved = pick("reserved-scopes");
  if (reserved !== undefined) {
    config.reservedScopes = reserved.split(",").map((s) => s.trim()).filter(Boolean)
      .map((s) => s.startsWith("@") ? s : `@${s}`);
    const bad = config.reservedScopes.find((s) => !SCOPE_RE.test(s));
    if (bad !== undefined) {
      return {
        ok: false,
        error:
          `--reserved-scopes takes comma-separated scopes like @acme (lowercase letters, digits, '-'; got '${bad}')`,
      };
    }
  }
  const trustedRoot = pick("sigstore-trusted-root");
  const tufMirror = pick("sigstore-tuf-mirror");
  if (trustedRoot !== undefined && tufMirror !== undefined) {
    return {
      ok: false,
      error: "--sigstore-trusted-root and --sigstore-tuf-mirror exclude each other",
    };
  }
  if (tufMirror !== undefined && !/^https?:\/\/[^/\s]+(\/.*)?$/.test(tufMirror)) {
    return {
      ok: false,
      error: `--sigstore-tuf-mirror must be an http(s) URL (got '${tufMirror}')`,
    };
  }
  if (trustedRoot !== undefined) config.sigstoreTrustedRoot = trustedRoot;
  if (tufMirror !== undefined) config.sigstoreTufMirror = tufMirror;
  const on = (name: string) => values[name] === true || file[name] === "true";
  if (on("blueprint-probe")) config.blueprintProbe = true;
  if (on("public-ed25519")) config.publicEd25519 = true;
  if (on("init")) config.init = true;
  if (logFormat !== undefined) config.logFormat = logFormat;
  if (storageText === undefined && bundlesText === undefined && dataDirText === undefined) {
    config.defaultStore = true;
  }
  const upstream = parseUpstreamFlags(pick);
  if (typeof upstream === "string") return { ok: false, error: upstream };
  if (upstream) config.jsrUpstream = upstream;
  const ggui = parseGguiUpstreamFlags(pick);
  if (typeof ggui === "string") return { ok: false, error: ggui };
  if (ggui) config.gguiUpstream = ggui;
  return { ok: true, config };
}
