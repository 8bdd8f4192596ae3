// The ggui upstream in process, against a second registry on 127.0.0.1
// holding public gadgets: reads and bundles through us (URLs pointed here,
// bundle.js checked against bundleSri), cached, no dependency confusion
// (a scope that exists here in any format is never asked), no token ever
// forwarded, a tampered bundle refused and not kept, a failing upstream 502.
import assert from "node:assert/strict";
import { collectGarbage } from "../core/gc.ts";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { GADGET_SOURCE, makePublicGadget, testSigstoreVerifier } from "./_ggui_fixtures.ts";
import { publish as publishJsr, TOKEN } from "./_jsr_upstream_fixtures.ts";

const OUR_HOST = "http://127.0.0.1:9";

function app(options: { bundleHost: string; gguiUpstream?: string }): RegistryApp {
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    authenticator: {
      authenticate: (t) => Promise.resolve(t === TOKEN ? { subject: "root", admin: true } : null),
    },
    bundleHost: options.bundleHost,
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    sigstore: testSigstoreVerifier,
    ...(options.gguiUpstream
      ? { gguiUpstream: { url: options.gguiUpstream, timeoutMs: 10_000, freshMs: 60_000 } }
      : {}),
  });
}

async function startGguiUpstream() {
  const seen: { path: string; auth: string | null }[] = [];
  let mode: "ok" | "500" | "tamper" | "big" = "ok";
  const holder: { app?: RegistryApp } = {};
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    seen.push({ path, auth: req.headers.get("authorization") });
    if (mode === "500") return new Response("boom", { status: 500 });
    const res = await holder.app!.fetch(req);
    if (mode === "big" && path.startsWith("/pkg/") && path.split("/").length === 5) {
      // A read as large as a blueprint's with its compiled bytes: more than a row holds.
      const body = await res.json();
      return Response.json({ ...body, compiledBytes: "A".repeat(200_000) });
    }
    if (mode === "tamper" && path.endsWith("/bundle.js")) {
      return new Response((await res.text()) + "\n// injected", { headers: res.headers });
    }
    return res;
  });
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  const upstreamApp = holder.app = app({ bundleHost: url });
  for (const [scope, version] of [["@pub", "1.0.0"], ["@acme", "9.9.9"]]) {
    const res = await upstreamApp.request("/publish", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(makePublicGadget({ manifest: { scope, version } })),
    });
    assert.equal(res.status, 201, await res.clone().text());
  }
  return {
    url: `${url}/`,
    seen,
    set(m: typeof mode) {
      mode = m;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("ggui upstream reads come through us with our URLs, bundles checked against bundleSri, cached", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  const res = await ours.request("/pkg/pub/map/1.0.0", {
    headers: { authorization: "Bearer some-client-token" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-registry-upstream"), "cached");
  const body = await res.json();
  assert.equal(body.manifest.scope, "@pub");
  assert.equal(body.bundleUrl, `${OUR_HOST}/bundles/public/@pub/map/1.0.0/bundle.js`);
  const path = new URL(body.bundleUrl).pathname;
  const bundle = await ours.request(path);
  assert.equal(bundle.status, 200);
  assert.equal(await bundle.text(), GADGET_SOURCE);
  const list = await (await ours.request("/pkg/pub/map")).json();
  assert.deepEqual(list.versions.map((v: { version: string }) => v.version), ["1.0.0"]);
  assert.deepEqual(upstream.seen.filter((s) => s.auth !== null), [], "no token goes upstream");
  assert.ok(upstream.seen.every((s) => !s.path.includes("/bundles/private/")));
  // Cached: with the upstream failing, the version and its bundle still answer.
  upstream.set("500");
  assert.equal((await ours.request(path)).status, 200);
  assert.equal((await ours.request("/pkg/pub/map/1.0.0")).status, 200);
  // Never cached: a clear 502.
  const cold = await ours.request("/bundles/public/@pub/map/1.0.0/manifest.json");
  assert.equal(cold.status, 502);
  assert.match((await cold.json()).message, /answered 500/);
});

Deno.test("ggui upstream: a tampered bundle is refused and not kept", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  upstream.set("tamper");
  const res = await ours.request("/bundles/public/@pub/map/1.0.0/bundle.js");
  assert.equal(res.status, 502);
  assert.match((await res.json()).message, /do not match its bundleSri/);
  upstream.set("ok");
  const good = await ours.request("/bundles/public/@pub/map/1.0.0/bundle.js");
  assert.equal(await good.text(), GADGET_SOURCE);
});

Deno.test("ggui upstream: a scope that exists here in any format is never looked up", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  await publishJsr(ours, "acme/util/1.0.0"); // @acme now exists here (a JSR package)
  upstream.seen.length = 0;
  for (
    const path of [
      "/pkg/acme/map/9.9.9",
      "/pkg/acme/map",
      "/bundles/public/@acme/map/9.9.9/bundle.js",
    ]
  ) {
    const res = await ours.request(path);
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  assert.deepEqual(upstream.seen, []);
});

Deno.test("ggui upstream: a scope served from the upstream cannot be claimed by a publish", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  assert.equal((await ours.request("/pkg/pub/map/1.0.0")).status, 200);
  const res = await ours.request("/publish", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(makePublicGadget({ manifest: { scope: "@pub", version: "2.0.0" } })),
  });
  assert.equal(res.status, 403);
  assert.match((await res.json()).message, /served from an upstream registry/);
});

Deno.test("ggui upstream: garbage collection keeps cached bundles", async () => {
  await using upstream = await startGguiUpstream();
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ours = createRegistryApp({
    storage,
    bundles,
    bundleHost: OUR_HOST,
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    gguiUpstream: { url: upstream.url, timeoutMs: 10_000 },
  });
  assert.equal(
    await (await ours.request("/bundles/public/@pub/map/1.0.0/bundle.js")).text(),
    GADGET_SOURCE,
  );
  const report = await collectGarbage({ storage, bundles, clock: () => new Date() }, {
    graceMs: 0,
  });
  assert.deepEqual(report.orphans, []);
  upstream.set("500");
  assert.equal(
    await (await ours.request("/bundles/public/@pub/map/1.0.0/bundle.js")).text(),
    GADGET_SOURCE,
  );
  const read = await ours.request("/pkg/pub/map/1.0.0");
  assert.equal(read.status, 200, "the cached read's body blob is kept too");
  await read.body?.cancel();
});

Deno.test("ggui upstream: a read larger than a row is cached and served whole", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  upstream.set("big");
  const res = await ours.request("/pkg/pub/map/1.0.0");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).compiledBytes.length, 200_000);
  upstream.set("500");
  const again = await ours.request("/pkg/pub/map/1.0.0");
  assert.equal(again.status, 200);
  assert.equal((await again.json()).compiledBytes.length, 200_000);
});

Deno.test("ggui upstream: search merges the upstream's results, marked, without scopes that exist here", async () => {
  await using upstream = await startGguiUpstream();
  const ours = app({ bundleHost: OUR_HOST, gguiUpstream: upstream.url });
  await publishJsr(ours, "acme/util/1.0.0"); // @acme exists here: its upstream results are dropped
  const res = await ours.request("/search?q=map");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-registry-upstream"), "merged");
  const body = await res.json();
  assert.deepEqual(
    body.results.map((r: { artifactId: string; source?: string }) => [r.artifactId, r.source]),
    [["@pub/map", "upstream"]],
  );
  upstream.set("500");
  const down = await ours.request("/search?q=map");
  assert.equal(down.status, 200);
  assert.equal(down.headers.get("x-registry-upstream"), "unavailable");
  assert.deepEqual((await down.json()).results, []);
});
