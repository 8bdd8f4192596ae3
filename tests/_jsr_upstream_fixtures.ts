// A JSR upstream for tests: a second registry in public mode on 127.0.0.1
// (JSR's read layout) that can be told to misbehave, and a publish helper.
import assert from "node:assert/strict";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeTarball } from "./_rack_fixtures.ts";

/** The admin token of every test registry. */
export const TOKEN = "tok-root";

/** How the test upstream misbehaves for matching paths. */
export type Mode =
  | "ok"
  | "500"
  | "hang"
  | "tamper"
  | "redirect"
  | "huge"
  | "endless"
  | "malformed"
  | "unsafe-path";

/** A running test upstream. */
export interface Upstream extends AsyncDisposable {
  url: string;
  app: RegistryApp;
  /** Every path the upstream was asked for. */
  seen: string[];
  /** Misbehave for paths containing `match` (every path when absent). */
  set(mode: Mode, match?: string): void;
}

/** A registry in memory (JSR public), optionally in front of an upstream. */
export function registry(options: { clock?: () => Date; upstream?: string; extra?: object } = {}) {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const app = createRegistryApp({
    storage,
    bundles,
    ...(options.clock ? { clock: options.clock } : {}),
    authenticator: {
      authenticate: (t) => Promise.resolve(t === TOKEN ? { subject: "root", admin: true } : null),
    },
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    blobCacheBytes: 0,
    jsrVisibility: "public",
    ...(options.upstream
      ? { jsrUpstream: { url: options.upstream, timeoutMs: 10_000, freshMs: 60_000 } }
      : {}),
    ...options.extra,
  });
  return { app, storage, bundles };
}

/** Start an upstream on 127.0.0.1, port 0. */
export function startUpstream(): Upstream {
  const { app } = registry();
  const seen: string[] = [];
  let mode: Mode = "ok";
  let match: string | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    const active = match === undefined || path.includes(match) ? mode : "ok";
    if (active === "500") return new Response("boom", { status: 500 });
    if (active === "hang") {
      await new Promise((r) => req.signal.addEventListener("abort", r));
      return new Response("late");
    }
    if (active === "redirect") {
      return new Response(null, { status: 302, headers: { location: "http://127.0.0.1:9/x" } });
    }
    if (active === "huge") {
      return new Response(new Uint8Array(5 * 1024 * 1024)); // over the 4 MiB cap, declared
    }
    if (active === "endless") {
      return new Response(
        new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(64 * 1024)) }),
      );
    }
    if (active === "malformed") return new Response("{not json");
    const res = await app.fetch(req);
    if (active === "tamper") {
      const text = await res.text();
      return new Response(text.replace("1.0.0", "6.6.6"), { headers: res.headers });
    }
    if (active === "unsafe-path") {
      const meta = await res.json();
      meta.manifest["/../../etc/passwd"] = meta.manifest["/mod.ts"];
      return Response.json(meta);
    }
    return res;
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${addr.port}/`,
    app,
    seen,
    set(m, on) {
      mode = m;
      match = on;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Publish `scope/name/version` with a small module (and `extra` files). */
export async function publish(app: RegistryApp, ref: string, extra: Record<string, string> = {}) {
  const [scope, name, version] = ref.split("/") as [string, string, string];
  const files = {
    "deno.json": JSON.stringify({ name: `@${scope}/${name}`, version, exports: "./mod.ts" }),
    "mod.ts": `export const version = "${version}";\n`,
    ...extra,
  };
  const res = await app.request(
    `/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: `Bearer ${TOKEN}` },
      body: await makeTarball(files) as BodyInit,
    },
  );
  const body = await res.json();
  assert.equal(body.status, "success", JSON.stringify(body));
}
