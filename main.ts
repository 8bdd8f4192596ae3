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
import { isCliCommand, runCli } from "./server/cli.ts";
import { recordAudit } from "./core/audit.ts";
import { ensureAdminToken, openStores } from "./server/open.ts";
import { gguiServerOptions } from "./server/ggui_options.ts";
import { startWebhookSender } from "./server/webhook_sender.ts";
import { bufferedLineWriter } from "./server/log_writer.ts";
import { logLinesDroppedTotal } from "./core/metrics.ts";
import { drainable } from "./server/drain.ts";
import { listen } from "./server/listen.ts";
import { parseAuthConfig, type RackAuth } from "./core/rack/auth.ts";
import { createFileAuthProvider, loadWebhookFile } from "./routes/_rack_auth_file.ts";
import { LiveSubscriptions } from "./core/webhook_subscriptions.ts";
import { checkWebhookTargets } from "./core/rack/webhooks.ts";
import { resolveHost } from "./server/pinned_fetch.ts";

function fail(message: string): never {
  console.error(`registry-server: ${message}`);
  console.error("Run with --help for usage.");
  Deno.exit(2);
}

/** Deno KV needs --unstable-kv, which `deno run jsr:…` does not take from our deno.json: re-run with it. */
async function reexecWithKv(): Promise<never> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", Deno.mainModule, ...Deno.args],
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

function listenHost(config: ServerConfig, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function serve(config: ServerConfig): Promise<void> {
  const stores = await openStores(config);
  const ctx: RegistryContext = {
    storage: stores.storage,
    bundles: stores.bundles,
    clock: () => new Date(),
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
  const log = (level: string, message: string, fields: Record<string, unknown> = {}) =>
    console.error(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  const adminToken = config.adminToken ?? (config.token === undefined ? token : undefined);
  let rackAuth: () => Promise<RackAuth>;
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
    rackAuth = () => Promise.resolve(fixed);
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
  const requestLog = config.logRequests
    ? bufferedLineWriter({ onDrop: () => logLinesDroppedTotal.inc() })
    : undefined;
  let app: ReturnType<typeof createRegistryApp> | undefined;
  // Counts requests in flight so a stop lets them finish (see server/drain.ts).
  const requests = drainable((req, info) =>
    app ? app.fetch(req, info) : new Response("Starting", { status: 503 })
  );
  const server = listen({
    port: config.port,
    hostname: config.host,
    headerTimeoutMs: config.headerTimeoutMs,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    onListen(addr) {
      const hostPort = listenHost(config, addr.port);
      app = createRegistryApp({
        storage: ctx.storage,
        bundles: ctx.bundles,
        clock: ctx.clock,
        authenticator,
        bundleHost: config.bundleHost ?? `http://${hostPort}`,
        registryHostname: config.registryHostname ?? hostPort,
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
        ...(config.metricsToken ? { metricsToken: config.metricsToken } : {}),
        ...(requestLog ? { requestLog: requestLog.write } : {}),
        subscriptions,
        liveSubscriptions: live,
        webhookGuard,
        ...(config.schemaDir ? { schemaDir: config.schemaDir } : {}),
        ...ggui,
      });
      const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      console.log(`registry-server listening on http://${shown}:${addr.port}`);
    },
  }, (req, info) => requests.fetch(req, info));
  if (config.headerTimeoutMs > 0 && !server.headerTimeout) {
    log("warn", "This Deno cannot time out request heads: --header-timeout-ms has no effect", {
      deno: Deno.version.deno,
    });
  }

  const sender = startWebhookSender(ctx, {
    subscriptions: () => live.list,
    refreshSubscriptions: () => live.refresh(),
    allowHosts: webhookGuard.allowHosts,
    ...(config.webhookRetryDelaysMs ? { retryDelaysMs: config.webhookRetryDelaysMs } : {}),
    onError: (err) => log("error", "Webhook sender fault", { error: String(err) }),
  });
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
    await closing;
    await requestLog?.close();
    await stores.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
}

/**
 * Run the registry command: the server, or an operator command (`token …`,
 * `gc`). What `deno task start`, `deno run -A main.ts` and
 * `deno run -A jsr:@x/registry` (through `mod.ts`) execute.
 */
export async function runMain(args: string[] = Deno.args): Promise<void> {
  // Operator commands (token create|list|revoke, gc) run against the store and exit.
  if (isCliCommand(args)) {
    if (typeof Deno.openKv !== "function") await reexecWithKv();
    Deno.exit(await runCli(args, Deno.env.toObject()));
  }
  const parsed = parseServerArgs(args, Deno.env.toObject());
  if (!parsed.ok) {
    if (parsed.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    fail(parsed.error);
  }
  const { config } = parsed;
  const needsKv = config.storage.kind === "kv" || config.bundles.kind === "kv";
  if (needsKv && typeof Deno.openKv !== "function") await reexecWithKv();
  try {
    await serve(config);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

if (import.meta.main) await runMain();
