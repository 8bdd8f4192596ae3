#!/usr/bin/env -S deno run -A --unstable-kv
/**
 * The registry server: `deno task start`, or `deno run -A jsr:@x/registry`.
 *
 * The only module with side effects at import: it reads flags and the
 * environment, opens the stores, serves HTTP and runs the webhook sender.
 *
 * @module
 */
import { staticTokenAuthenticator } from "./core/auth.ts";
import { chainAuthenticators, storedTokenAuthenticator } from "./core/tokens.ts";
import type { RegistryContext } from "./core/context.ts";
import { createRegistryApp } from "./routes/app.ts";
import { parseServerArgs, type ServerConfig, USAGE } from "./server/config.ts";
import { suggest } from "./server/suggest.ts";
import { configPath, loadConfigFile } from "./server/config_file.ts";
import { DATA_FORMAT_VERSION, VERSION } from "./core/version.ts";
import { recordAudit } from "./core/audit.ts";
import { ensureSearchIndex } from "./core/search_index.ts";
import {
  describeBundles,
  describeRows,
  ensureAdminToken,
  openDiskReserve,
  openStores,
} from "./server/open.ts";
import { checkStorePaths, firstLine, readJsonFile, StartError } from "./server/preflight.ts";
import { parseWebhookConfig } from "./core/rack/webhooks.ts";
import { gguiServerOptions } from "./server/ggui_options.ts";
import { startWebhookSender } from "./server/webhook_sender.ts";
import { bufferedLineWriter } from "./server/log_writer.ts";
import { createLogger, enabled, prettyLine } from "./server/logger.ts";
import { logLinesDroppedTotal } from "./core/metrics.ts";
import { drainable } from "./server/drain.ts";
import { listen, type Listening } from "./server/listen.ts";
import { fixedRackAuth, parseAuthConfig, type RackAuthProvider } from "./core/rack/auth.ts";
import { createFileAuthProvider, loadWebhookFile } from "./routes/rack/mod.ts";
import { LiveSubscriptions } from "./core/webhook_subscriptions.ts";
import { checkWebhookTargets } from "./core/rack/webhooks.ts";
import { resolveHost } from "./server/pinned_fetch.ts";
import type { S3BundleStorage } from "./storage/s3.ts";
import { lazily } from "./base/lazy.ts";

/** Rack's R2 mirror (and the Rack schema and S3 code it writes with) loads only when configured. */
const rackMirrorModule = lazily(() => import("./server/rack_mirror.ts"));

/** Exit with one line; the --help hint only for usage errors (code 2). */
function fail(message: string, code: 1 | 2 = 2): never {
  console.error(`registry-server: ${message}`);
  if (code === 2) console.error("Run with --help for usage.");
  Deno.exit(code);
}

/** Deno KV needs --unstable-kv, which `deno run jsr:…` does not take from our deno.json: re-run with it. */
async function reexecWithKv(): Promise<never> {
  const child = new Deno.Command(Deno.execPath(), {
    // main.ts itself, not the entry that imported it (mod.ts, the whole library, when run
    // from JSR), and dynamic imports loaded when they first run (as the checkout's
    // deno.json asks): the child evaluates only what the server needs.
    args: [
      "run",
      "-A",
      "--unstable-kv",
      "--unstable-lazy-dynamic-imports",
      import.meta.url,
      ...Deno.args,
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    });
  }
  const status = await child.status;
  Deno.exit(status.code);
}

/** The configuration as `config --print` shows it: secrets replaced by `***`. */
function maskSecrets(config: ServerConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  for (const key of ["token", "adminToken", "metricsToken"]) {
    if (shown[key] !== undefined) shown[key] = "***";
  }
  // The buckets' credentials (--bundles=s3:…, R2 mode, the Rack mirror).
  for (const key of ["bundles", "rackMirror"]) {
    const spec = shown[key] as Record<string, unknown> | undefined;
    if (spec?.secretAccessKey === undefined) continue;
    shown[key] = {
      ...spec,
      secretAccessKey: "***",
      ...(spec.sessionToken === undefined ? {} : { sessionToken: "***" }),
    };
  }
  return shown;
}

function describeStores(config: ServerConfig): string {
  return `rows ${describeRows(config)}, bundles ${describeBundles(config)}`;
}

function listenHost(config: ServerConfig, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Everything that can be checked without writing: store paths, auth.json and
 * webhooks.json. Then the port is bound, and only then the stores opened.
 */
async function preflight(config: ServerConfig): Promise<void> {
  await checkStorePaths(config);
  if (config.authConfig !== undefined) {
    const doc = await readJsonFile(config.authConfig, "--auth-config or AUTH_CONFIG_PATH");
    try {
      parseAuthConfig(JSON.stringify(doc));
    } catch (err) {
      throw new StartError(`${config.authConfig}: ${firstLine(err)}`);
    }
  }
  if (config.webhookConfig !== undefined) {
    const doc = await readJsonFile(config.webhookConfig, "--webhook-config or WEBHOOK_CONFIG_PATH");
    try {
      parseWebhookConfig(JSON.stringify(doc));
    } catch (err) {
      throw new StartError(`${config.webhookConfig}: ${firstLine(err)}`);
    }
  }
}

/** Bind the port before anything is written; a port in use names the port and the flag. */
function bind(
  config: ServerConfig,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): Listening {
  try {
    // Our own accept loop: it times out request heads and caps connections per address.
    return listen({
      port: config.port,
      hostname: config.host,
      headerTimeoutMs: config.headerTimeoutMs,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    }, handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new StartError(
        `Port ${config.port} on ${config.host} is in use: pass --port=<another port> (or PORT; 0 picks a free one)`,
      );
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new StartError(
        `Could not listen on ${config.host}:${config.port}: permission denied (ports below 1024 need privileges; pass --port)`,
      );
    }
    if (err instanceof Deno.errors.AddrNotAvailable) {
      throw new StartError(
        `Could not listen on ${config.host}:${config.port}: the address is not on this machine (check --host or HOST)`,
      );
    }
    throw new StartError(`Could not listen on ${config.host}:${config.port}: ${firstLine(err)}`);
  }
}

async function serve(config: ServerConfig): Promise<void> {
  await preflight(config);
  let app: ReturnType<typeof createRegistryApp> | undefined = undefined;
  // Counts requests in flight so a stop lets them finish (see server/drain.ts).
  const requests = drainable((req, info) =>
    app ? app.fetch(req, info) : new Response("Starting", { status: 503 })
  );
  const server = bind(config, (req, info) => requests.fetch(req, info));
  let stores: Awaited<ReturnType<typeof openStores>>;
  try {
    stores = await openStores(config).catch((err) => {
      throw new StartError(
        `Could not open the store (${describeStores(config)}): ${firstLine(err)}`,
      );
    });
  } catch (err) {
    await server.shutdown();
    throw err;
  }
  let mirrorTarget: S3BundleStorage | undefined;
  let mirrorCode: Awaited<ReturnType<typeof rackMirrorModule>> | undefined;
  if (config.rackMirror) {
    try {
      mirrorCode = await rackMirrorModule();
      mirrorTarget = await mirrorCode.openRackMirror(config.rackMirror);
    } catch (err) {
      await stores.close();
      await server.shutdown();
      throw new StartError(`Could not open the Rack mirror's bucket: ${firstLine(err)}`);
    }
  }
  const reserve = await openDiskReserve(config);
  // A store written before the search index existed gets it before the first request.
  const reindexed = await ensureSearchIndex(stores.storage);
  if (reindexed && reindexed.packages > 0) {
    console.error(`registry-server: built the search index (${reindexed.packages} packages)`);
  }
  const ctx: RegistryContext = {
    storage: stores.storage,
    bundles: stores.bundles,
    clock: () => new Date(),
    ...(reserve ? { reserve } : {}),
    ...(mirrorTarget ? { rackMirror: true } : {}),
  };

  let token = config.token;
  let subject = config.subject;
  const noToken = token === undefined && config.adminToken === undefined &&
    config.authConfig === undefined;
  if (noToken && config.deploy) {
    // No disk to keep a generated token on: serve reads, refuse every write.
    console.error(
      "registry-server: no token configured; every write is refused. Set GGUI_REGISTRY_TOKEN or ADMIN_TOKEN, or create stored tokens",
    );
  } else if (noToken) {
    const admin = await ensureAdminToken(config);
    token = admin.token;
    subject ??= "admin";
    console.error(
      `registry-server: no token configured; ${
        admin.created ? "wrote" : "using"
      } an admin token in ${admin.path}`,
    );
  }
  const logFormat = config.logFormat ?? (Deno.stdout.isTerminal() ? "pretty" : "json");
  const log = createLogger({ level: config.logLevel, format: logFormat });
  const adminToken = config.adminToken ?? (config.token === undefined ? token : undefined);
  let rackAuth: RackAuthProvider;
  if (config.authConfig !== undefined) {
    rackAuth = await createFileAuthProvider({
      path: config.authConfig,
      ...(adminToken ? { adminToken } : {}),
      log,
      onReload: (outcome, detail) =>
        recordAudit(ctx, {
          actor: "system",
          action: "config.reload",
          target: "auth.json",
          outcome,
          detail,
        })
          .catch((err) => log("error", "Could not audit a reload", { error: String(err) })),
    });
  } else {
    const fixed = parseAuthConfig(null, adminToken ? { adminToken } : {}).auth;
    rackAuth = fixedRackAuth(fixed);
  }
  const subscriptions = config.webhookConfig ? await loadWebhookFile(config.webhookConfig) : [];
  // One guard for webhooks.json, new admin subscriptions and every delivery.
  const webhookGuard = { allowHosts: config.webhookAllowHosts ?? [], resolve: resolveHost };
  await checkWebhookTargets(subscriptions, webhookGuard);
  // webhooks.json's subscriptions and the admin API's, one live list; other
  // processes on the store see an admin change within five seconds.
  const live = new LiveSubscriptions(ctx, subscriptions);
  await live.refresh();
  const refresher = setInterval(
    () =>
      live.refresh().catch((err) =>
        log("warn", "Could not refresh webhook subscriptions", { error: String(err) })
      ),
    5000,
  );
  Deno.unrefTimer(refresher);
  const authenticator = chainAuthenticators(
    ...(token ? [staticTokenAuthenticator({ token, ...(subject ? { subject } : {}) })] : []),
    storedTokenAuthenticator(ctx),
  );

  const ggui = await gguiServerOptions(config);
  // One JSON line per request, written to stdout in batches (a write per request costs ~30 %).
  // A slow stdout delays the log, never a response; past its bounded queue lines are dropped and counted.
  // The request log is at level info: --log-level=warn or above turns it off.
  const requestLog = config.logRequests && enabled("info", config.logLevel)
    ? bufferedLineWriter({ onDrop: () => logLinesDroppedTotal.inc() })
    : undefined;
  const writeRequest = requestLog && logFormat === "pretty"
    ? (line: string) => requestLog.write(prettyLine(JSON.parse(line)))
    : requestLog?.write;
  const addr = server.addr;
  const hostPort = listenHost(config, addr.port);
  app = createRegistryApp({
    storage: ctx.storage,
    bundles: ctx.bundles,
    clock: ctx.clock,
    ...(reserve ? { reserve } : {}),
    ...(mirrorTarget ? { rackMirror: true } : {}),
    authenticator,
    bundleHost: config.bundleHost ?? `http://${hostPort}`,
    registryHostname: config.registryHostname ?? hostPort,
    // Unset, they follow the address each client used (never localhost for 0.0.0.0).
    hostFromRequest: [
      ...(config.bundleHost === undefined ? ["bundleHost" as const] : []),
      ...(config.registryHostname === undefined ? ["registryHostname" as const] : []),
    ],
    ...(config.reservedScopes ? { reservedScopes: config.reservedScopes } : {}),
    rackAuth,
    maxUploadBytes: config.maxUploadBytes,
    trustProxy: config.trustProxy,
    rateLimitPerMinute: config.rateLimit,
    readRateLimitPerMinute: config.readRateLimit,
    metadataRateLimitPerMinute: config.metadataRateLimit,
    queryRateLimitPerMinute: config.queryRateLimit,
    uploadRateLimitPerMinute: config.uploadRateLimit,
    tokenUploadRateLimitPerMinute: config.tokenUploadRateLimit,
    authFailuresPerMinute: config.authFailureLimit,
    readCacheMs: config.readCacheMs,
    bodyIdleTimeoutMs: config.bodyTimeoutMs,
    maxPendingBodiesPerAddress: config.maxPendingBodies,
    jsrVisibility: config.jsrVisibility,
    ui: config.ui,
    ...(config.jsrUpstream ? { jsrUpstream: config.jsrUpstream } : {}),
    ...(config.gguiUpstream ? { gguiUpstream: config.gguiUpstream } : {}),
    ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
    ...(writeRequest ? { requestLog: writeRequest } : {}),
    subscriptions,
    liveSubscriptions: live,
    webhookGuard,
    ...(config.schemaDir ? { schemaDir: config.schemaDir } : {}),
    ...ggui,
  });

  const sender = startWebhookSender(ctx, {
    subscriptions: () => live.list,
    refreshSubscriptions: () => live.refresh(),
    allowHosts: webhookGuard.allowHosts,
    ...(config.webhookRetryDelaysMs ? { retryDelaysMs: config.webhookRetryDelaysMs } : {}),
    onError: (err) => log("error", "Webhook sender fault", { error: String(err) }),
  });
  // Rack's R2 mirror: derived state, written after each commit from the outbox (docs/scaling.md).
  const mirror = mirrorTarget && mirrorCode?.startRackMirror(ctx, {
    target: mirrorTarget,
    ...(config.authConfig ? { authConfig: config.authConfig } : {}),
    ...(config.schemaDir ? { schemaDir: config.schemaDir } : {}),
    onError: (message, err) => log("warn", message, { error: firstLine(err) }),
  });
  if (config.rackMirror && mirrorCode) {
    log("info", "Rack mirror on", { bucket: mirrorCode.describeRackMirror(config.rackMirror) });
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Stop accepting, finish in-flight requests, leave pending webhooks in the outbox:
    // new requests get a 503 while those in flight run to their response (up to
    // 10 s; Deno's shutdown would cut off a request body still arriving), then the
    // listener closes; the sender aborts its attempt in flight (a receiver may take
    // 30 s), whose delivery stays pending for the next start.
    clearInterval(refresher);
    const closing = requests.drain().then(() => server.shutdown());
    await sender.stop();
    await mirror?.stop();
    await closing;
    await requestLog?.close();
    await stores.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // Announced only once a SIGTERM drains: a supervisor (or a test) that stops
  // the server the moment it reads this line gets a clean exit 0.
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  console.log(`registry-server listening on http://${shown}:${addr.port}`);
  if (config.headerTimeoutMs > 0 && !server.headerTimeout) {
    log("warn", "This Deno cannot time out request heads: --header-timeout-ms has no effect", {
      deno: Deno.version.deno,
    });
  }
  await server.finished;
}

/**
 * Run the registry command: the server, or an operator command (`token …`,
 * `gc`). What `deno task start`, `deno run -A main.ts` and
 * `deno run -A jsr:@x/registry` (through `mod.ts`) execute.
 */
export async function runMain(args: string[] = Deno.args): Promise<void> {
  // Operator commands (token create|list|revoke, gc) run against the store and exit.
  const first = args[0];
  if (first === "--version" || first === "-V") {
    console.log(`@x/registry ${VERSION} (data format ${DATA_FORMAT_VERSION})`);
    Deno.exit(0);
  }
  // `mirror` fills the JSR upstream cache ahead of time (docs/jsr.md).
  if (first === "mirror") {
    if (typeof Deno.openKv !== "function") await reexecWithKv();
    const { runMirror } = await import("./server/mirror.ts");
    Deno.exit(await runMirror(args.slice(1), Deno.env.toObject()));
  }
  // A command word loads the operator CLI (server/cli.ts names the commands): a server start never does.
  if (first !== undefined && !first.startsWith("-") && first !== "config") {
    const { COMMAND_NAMES, runCli } = await import("./server/cli.ts");
    const commands = [...COMMAND_NAMES, "config", "mirror"];
    if (!commands.includes(first)) {
      const near = suggest(first, commands);
      fail(
        `Unknown command '${first}'${near ? ` (did you mean ${near}?)` : ""}; commands: ${
          commands.join(", ")
        }`,
      );
    }
    if (typeof Deno.openKv !== "function") await reexecWithKv();
    Deno.exit(await runCli(args, Deno.env.toObject()));
  }
  const env = Deno.env.toObject();
  const printing = first === "config";
  if (printing && args[1] !== "--print") {
    fail("config takes --print (main.ts config --print [flags])");
  }
  const serverArgs = printing ? args.slice(2) : args;
  let file: Record<string, string> | undefined;
  try {
    const path = configPath(serverArgs, env);
    if (path !== undefined) file = await loadConfigFile(path);
  } catch (err) {
    if (err instanceof StartError) fail(err.message, err.exitCode);
    throw err;
  }
  const parsed = parseServerArgs(serverArgs, env, file ? { file } : {});
  if (!parsed.ok) {
    if (parsed.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    fail(parsed.error);
  }
  const { config } = parsed;
  if (printing) {
    console.log(JSON.stringify(maskSecrets(config), null, 2));
    Deno.exit(0);
  }
  const needsKv = config.storage.kind === "kv" || config.bundles.kind === "kv";
  if (needsKv && typeof Deno.openKv !== "function") await reexecWithKv();
  try {
    await serve(config);
  } catch (err) {
    if (err instanceof StartError) fail(err.message, err.exitCode);
    fail(firstLine(err), 1);
  }
}

if (import.meta.main) await runMain();
