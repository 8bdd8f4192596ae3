/**
 * The registry as one Hono app: every wire surface over one core and one store.
 *
 * @module
 */
import { Hono } from "hono";
import type { Authenticator } from "../core/auth.ts";
import type { Clock, RegistryContext } from "../core/context.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import type { BlueprintProbe, CodeGates } from "../core/ggui/conformance.ts";
import type { SigstoreVerifier } from "../core/ggui/signing.ts";
import type { RackAuth } from "../core/rack/auth.ts";
import type { WebhookSubscription } from "../core/rack/webhooks.ts";
import { createGguiRoutes, GGUI_CORS_HEADERS, isGguiCorsExcluded } from "./ggui.ts";
import { createRackRoutes } from "./rack.ts";
import { rackJsonError } from "./_rack_http.ts";

/** Options of {@linkcode createRegistryApp}. */
export interface RegistryAppOptions {
  /** Row storage. */
  storage: RegistryStorage;
  /** Blob storage. */
  bundles: BundleStorage;
  /** The current time (default: the system clock). */
  clock?: Clock;
  /** Turns bearer tokens into principals (ggui surface); absent: nobody can write. */
  authenticator?: Authenticator;
  /** Prefix of blob URLs, e.g. `http://localhost:9001`. */
  bundleHost: string;
  /** `host[:port]` used in install commands. */
  registryHostname: string;
  /** Scopes nobody can claim (default: the ggui spec's list). */
  reservedScopes?: string[];
  /** ggui public lane: verifies sigstore keyless signatures (default: refuse, as the original offline). */
  sigstore?: SigstoreVerifier;
  /** ggui code-level conformance gates. */
  codeGates?: CodeGates;
  /** Optional ggui blueprint runtime probe (opt-in; see the ggui docs). */
  blueprintProbe?: BlueprintProbe;
  /** The Rack surface's namespace policy (auth.json + admin token); absent: no namespace is declared. */
  rackAuth?: () => Promise<RackAuth>;
  /** Serve Rack's `/schemas/:file` from this folder instead of the built-in schemas. */
  schemaDir?: string;
  /** Largest Rack upload in bytes (default 100 MiB). */
  maxUploadBytes?: number;
  /** Webhook subscriptions (Rack `webhooks.json` format). */
  subscriptions?: readonly WebhookSubscription[];
}

/** Path prefixes of the Rack surface: unknown routes there answer in Rack's error format. */
const RACK_PREFIXES = ["/registries", "/namespaces", "/presets", "/schemas", "/health", "/metrics"];

function isRackPath(path: string): boolean {
  return RACK_PREFIXES.some((p) => path === p || path.startsWith(p + "/")) && path !== "/healthz";
}

/**
 * The registry as a fetch handler. Mount it anywhere: `Deno.serve(app.fetch)`,
 * or inside another Hono app with `parent.mount("/registry", app.fetch)`.
 */
export interface RegistryApp {
  /** Answer one request (`env` carries the connection info for client IPs). */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** Answer a request built from a path or URL, in process (handy in tests). */
  request(input: string | URL | Request, init?: RequestInit): Response | Promise<Response>;
}

const nobody: Authenticator = { authenticate: () => Promise.resolve(null) };
const noNamespaces: RackAuth = { namespaces: new Map() };

/**
 * Build the registry's Hono app; mount its `fetch` anywhere.
 *
 * @example Serve the ggui health route from memory
 * ```ts
 * import { createRegistryApp, MemoryBundleStorage, MemoryRegistryStorage } from "../mod.ts";
 * const app = createRegistryApp({
 *   storage: new MemoryRegistryStorage(),
 *   bundles: new MemoryBundleStorage(),
 *   bundleHost: "http://localhost:9001",
 *   registryHostname: "localhost:9001",
 * });
 * const res = await app.request("/healthz");
 * console.assert(res.status === 200);
 * ```
 */
export function createRegistryApp(options: RegistryAppOptions): RegistryApp {
  const ctx: RegistryContext = {
    storage: options.storage,
    bundles: options.bundles,
    clock: options.clock ?? (() => new Date()),
  };
  const app = new Hono();
  app.route(
    "/",
    createGguiRoutes({
      ctx,
      authenticator: options.authenticator ?? nobody,
      bundleHost: options.bundleHost,
      registryHostname: options.registryHostname,
      ...(options.reservedScopes ? { reservedScopes: options.reservedScopes } : {}),
      ...(options.sigstore ? { sigstore: options.sigstore } : {}),
      ...(options.codeGates ? { codeGates: options.codeGates } : {}),
      ...(options.blueprintProbe ? { blueprintProbe: options.blueprintProbe } : {}),
    }),
  );
  app.route(
    "/",
    createRackRoutes({
      ctx,
      auth: options.rackAuth ?? (() => Promise.resolve(noNamespaces)),
      ...(options.schemaDir ? { schemaDir: options.schemaDir } : {}),
      ...(options.maxUploadBytes ? { maxUploadBytes: options.maxUploadBytes } : {}),
      ...(options.subscriptions ? { subscriptions: options.subscriptions } : {}),
    }),
  );
  // ggui: OPTIONS answers 204 with the CORS headers on every path but the excluded ones.
  app.options("*", (c) => {
    if (isRackPath(c.req.path) || isGguiCorsExcluded(c.req.path)) return c.notFound();
    return new Response(null, { status: 204, headers: GGUI_CORS_HEADERS });
  });
  app.notFound((c) => {
    if (isRackPath(c.req.path)) {
      return rackJsonError(404, { code: "NOT_FOUND", message: "Route not found" });
    }
    const headers = new Headers({ "content-type": "text/plain; charset=UTF-8" });
    if (!isGguiCorsExcluded(c.req.path)) {
      for (const [k, v] of Object.entries(GGUI_CORS_HEADERS)) headers.set(k, v);
    }
    return new Response("404 Not Found", { status: 404, headers });
  });
  return app;
}
