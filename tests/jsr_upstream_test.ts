// The JSR upstream in process, against a second registry on a real port
// (127.0.0.1, public mode) serving JSR's read layout: byte-identical cached
// reads, no dependency confusion, tampered/failing/hanging/huge/redirecting
// upstreams refused with nothing stored, stale meta.json when the upstream is
// down, new versions after the freshness window, the publish refusal and the
// admin claim, metrics, the request log and the audit record.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { listAudit } from "../core/audit.ts";
import { collectGarbage } from "../core/gc.ts";
import { exportStore, importStore } from "../core/transfer.ts";
import { defaultRegistry } from "../core/metrics.ts";
import { makeTarball } from "./_rack_fixtures.ts";
import { type Mode, publish, registry, startUpstream, TOKEN } from "./_jsr_upstream_fixtures.ts";

async function bytes(res: Response | Promise<Response>): Promise<Uint8Array> {
  return new Uint8Array(await (await res).arrayBuffer());
}

/** Our registry (clock under the test's control) in front of a fresh upstream with @std/assert. */
async function setup(extra: object = {}) {
  const upstream = startUpstream();
  await publish(upstream.app, "std/assert/1.0.0", { "util/deep.ts": "export const d = 1;\n" });
  let now = Date.parse("2026-12-07T00:00:00Z");
  const ours = registry({ clock: () => new Date(now), upstream: upstream.url, extra });
  return {
    upstream,
    ours,
    advance(ms: number) {
      now += ms;
    },
  };
}

function metric(name: string, labels: string): number {
  const line = defaultRegistry.expose().split("\n").find((l) =>
    l.startsWith(`${name}{`) && l.includes(labels)
  );
  return line ? Number(line.split(" ").at(-1)) : 0;
}

Deno.test("upstream reads are served byte-identical, cached, and survive the upstream failing", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  for (const path of ["/@std/assert/1.0.0_meta.json", "/@std/assert/1.0.0/mod.ts"]) {
    const direct = await bytes(upstream.app.request(path));
    const res = await ours.app.request(path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("x-registry-upstream"), "cached");
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.deepEqual(await bytes(res), direct, path);
  }
  const meta = await (await ours.app.request("/@std/assert/meta.json")).json();
  assert.deepEqual(Object.keys(meta.versions), ["1.0.0"]);
  // Cached: with the upstream failing, immutable reads still answer the same bytes.
  upstream.set("500");
  const seen = upstream.seen.length;
  const again = await ours.app.request("/@std/assert/1.0.0/mod.ts");
  assert.equal(again.status, 200);
  assert.equal(new TextDecoder().decode(await bytes(again)), 'export const version = "1.0.0";\n');
  assert.equal(upstream.seen.length, seen, "a cached file asks the upstream nothing");
  // A file never read before still needs the upstream: a clear 502.
  const cold = await ours.app.request("/@std/assert/1.0.0/util/deep.ts");
  assert.equal(cold.status, 502);
  const body = await cold.json();
  assert.equal(body.code, "upstreamUnavailable");
  assert.match(body.message, /answered 500/);
  // A missing path of a cached version is our 404, asked of nobody.
  const missing = await ours.app.request("/@std/assert/1.0.0/nope.ts");
  assert.equal(missing.status, 404);
});

Deno.test("a namespace that exists here is never looked up upstream (dependency confusion)", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  await publish(upstream.app, "acme/secret/1.0.0");
  await publish(upstream.app, "acme/util/9.0.0");
  await publish(ours.app, "acme/util/1.0.0");
  upstream.seen.length = 0;
  const meta = await (await ours.app.request("/@acme/util/meta.json")).json();
  assert.deepEqual(Object.keys(meta.versions), ["1.0.0"]);
  assert.equal(meta.latest, "1.0.0");
  for (
    const path of [
      "/@acme/util/9.0.0_meta.json",
      "/@acme/util/9.0.0/mod.ts",
      "/@acme/secret/meta.json",
      "/@acme/secret/1.0.0_meta.json",
      "/@acme/secret/1.0.0/mod.ts",
    ]
  ) {
    const res = await ours.app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("x-registry-upstream"), null);
  }
  assert.deepEqual(upstream.seen.filter((p) => p.includes("acme")), []);
  assert.deepEqual(upstream.seen, []);
});

Deno.test("--jsr-upstream-deny and --jsr-upstream-allow keep namespaces off the upstream", async () => {
  const upstream = startUpstream();
  await using _ = upstream;
  await publish(upstream.app, "std/assert/1.0.0");
  await publish(upstream.app, "internal-tools/x/1.0.0");
  const denied = registry({
    upstream: upstream.url,
    extra: { jsrUpstream: { url: upstream.url, deny: ["@internal-*"] } },
  });
  assert.equal((await denied.app.request("/@internal-tools/x/meta.json")).status, 404);
  assert.equal((await denied.app.request("/@std/assert/meta.json")).status, 200);
  const allowed = registry({
    upstream: upstream.url,
    extra: { jsrUpstream: { url: upstream.url, allow: ["@std"] } },
  });
  assert.equal((await allowed.app.request("/@internal-tools/x/1.0.0_meta.json")).status, 404);
  assert.equal((await allowed.app.request("/@std/assert/1.0.0_meta.json")).status, 200);
  assert.deepEqual(upstream.seen.filter((p) => p.includes("internal")), []);
});

Deno.test("a tampered upstream file is refused and nothing of it is stored", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  upstream.set("tamper", "/1.0.0/mod.ts");
  const res = await ours.app.request("/@std/assert/1.0.0/mod.ts");
  assert.equal(res.status, 502);
  assert.match((await res.json()).message, /do not match its checksum/);
  const tampered = sha256Hex(new TextEncoder().encode('export const version = "6.6.6";\n'));
  assert.equal(await ours.bundles.stat(tampered), null);
  upstream.set("ok");
  const good = await ours.app.request("/@std/assert/1.0.0/mod.ts");
  assert.equal(good.status, 200);
  assert.equal(await good.text(), 'export const version = "1.0.0";\n');
});

Deno.test("bad upstream answers are refused with 502/504 and bounded reads", async (t) => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  const quick = registry({
    upstream: upstream.url,
    extra: { jsrUpstream: { url: upstream.url, timeoutMs: 300 } },
  });
  const cases: [Mode, number, RegExp][] = [
    ["500", 502, /answered 500/],
    ["hang", 504, /did not answer within 300 ms/], // a registry with a 300 ms deadline
    ["redirect", 502, /redirected/],
    ["huge", 502, /more than/],
    ["endless", 502, /more than/],
    ["malformed", 502, /not JSON/],
    ["unsafe-path", 502, /unsafe path/],
  ];
  for (const [mode, status, message] of cases) {
    await t.step(`${mode} → ${status}`, async () => {
      upstream.set(mode);
      // Only the hanging case waits for the deadline: its registry has a short one.
      const reader = mode === "hang" ? quick : ours;
      const res = await reader.app.request("/@std/assert/1.0.0_meta.json");
      assert.equal(res.status, status);
      const body = await res.json();
      assert.match(body.message, message);
      const rows = await reader.storage.list(["upstream_jsr_version"]);
      assert.equal(rows.items.length, 0, "nothing cached");
    });
  }
  upstream.set("ok");
  assert.equal((await ours.app.request("/@std/assert/1.0.0_meta.json")).status, 200);
});

Deno.test("meta.json: fresh from the cache, revalidated after the window, stale with a warning when the upstream is down", async () => {
  const { upstream, ours, advance } = await setup();
  await using _ = upstream;
  const versions = async () => {
    const res = await ours.app.request("/@std/assert/meta.json");
    assert.equal(res.status, 200);
    return { res, keys: Object.keys((await res.json()).versions) };
  };
  assert.deepEqual((await versions()).keys, ["1.0.0"]);
  await publish(upstream.app, "std/assert/1.1.0");
  assert.deepEqual((await versions()).keys, ["1.0.0"], "inside the window: the cached copy");
  advance(61_000);
  assert.deepEqual((await versions()).keys, ["1.1.0", "1.0.0"], "after it: the new version");
  const metaFetches = () => upstream.seen.filter((p) => p.endsWith("/meta.json")).length;
  const before = metaFetches();
  advance(61_000);
  assert.deepEqual((await versions()).keys, ["1.1.0", "1.0.0"]); // revalidated (304)
  assert.equal(metaFetches(), before + 1);
  const stale = metric("registry_upstream_stale_served_total", 'upstream="jsr"');
  upstream.set("500");
  advance(61_000);
  const { res, keys } = await versions();
  assert.deepEqual(keys, ["1.1.0", "1.0.0"]);
  assert.equal(res.headers.get("x-registry-upstream"), "stale");
  assert.equal(res.headers.get("warning"), '110 - "Response is Stale"');
  assert.equal(metric("registry_upstream_stale_served_total", 'upstream="jsr"'), stale + 1);
  // Never cached and the upstream down: a clear 502.
  assert.equal((await ours.app.request("/@std/other/meta.json")).status, 502);
});

Deno.test("publishing into a namespace served from the upstream is refused until an admin claims it", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  assert.equal((await ours.app.request("/@std/assert/1.0.0_meta.json")).status, 200);
  const res = await ours.app.request(
    "/api/scopes/std/packages/evil/versions/1.0.0?config=%2Fdeno.json",
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: `Bearer ${TOKEN}` },
      body: await makeTarball({
        "deno.json": JSON.stringify({ name: "@std/evil", version: "1.0.0", exports: "./mod.ts" }),
        "mod.ts": "export {};\n",
      }) as BodyInit,
    },
  );
  assert.equal(res.status, 403);
  assert.match((await res.json()).message, /served from an upstream registry/);
  assert.equal((await ours.storage.list(["pkg", "@std"])).items.length, 0);
  // The admin claim: the namespace is ours from then on, the upstream is not asked.
  const claim = await ours.app.request("/admin/namespaces/@std/claim", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ owner: "root" }),
  });
  assert.equal(claim.status, 201, await claim.clone().text());
  upstream.seen.length = 0;
  assert.equal((await ours.app.request("/@std/assert/meta.json")).status, 404);
  assert.deepEqual(upstream.seen, []);
  await publish(ours.app, "std/evil/1.0.0");
});

Deno.test("the first caching of an upstream version is audited once, counted, and logged", async () => {
  const lines: string[] = [];
  const { upstream, ours } = await setup({ requestLog: (l: string) => lines.push(l) });
  await using _ = upstream;
  const misses = metric("registry_upstream_reads_total", 'kind="version",result="miss"');
  await ours.app.request("/@std/assert/1.0.0_meta.json");
  await ours.app.request("/@std/assert/1.0.0_meta.json");
  await ours.app.request("/@std/assert/1.0.0/mod.ts");
  const audit = await listAudit({ ...ours, clock: () => new Date() }, {
    action: "jsr.upstream.cache",
  });
  assert.equal(audit.items.length, 1);
  assert.equal(audit.items[0]!.target, "@std/assert@1.0.0");
  assert.equal(
    metric("registry_upstream_reads_total", 'kind="version",result="miss"'),
    misses + 1,
  );
  const fetches = lines.map((l) => JSON.parse(l)).filter((l) => l.message === "upstream fetch");
  assert.deepEqual(fetches.map((f) => [f.kind, f.path, f.status, f.outcome]), [
    ["version", "/@std/assert/1.0.0_meta.json", 200, "fetched"],
    ["file", "/@std/assert/1.0.0/mod.ts", 200, "fetched"],
  ]);
  assert.ok(fetches.every((f) => typeof f.requestId === "string"));
});

Deno.test("garbage collection keeps the upstream cache", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  await ours.app.request("/@std/assert/meta.json");
  assert.equal((await ours.app.request("/@std/assert/1.0.0/mod.ts")).status, 200);
  const report = await collectGarbage({ ...ours, clock: () => new Date() }, { graceMs: 0 });
  assert.deepEqual(report.orphans, []);
  upstream.set("500");
  const res = await ours.app.request("/@std/assert/1.0.0/mod.ts");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'export const version = "1.0.0";\n');
});

Deno.test("export and import carry the upstream cache to another store", async () => {
  const { upstream, ours } = await setup();
  await using _ = upstream;
  assert.equal((await ours.app.request("/@std/assert/meta.json")).status, 200);
  assert.equal((await ours.app.request("/@std/assert/1.0.0/mod.ts")).status, 200);
  const lines: string[] = [];
  for await (const l of exportStore({ ...ours, clock: () => new Date() })) lines.push(l);
  const offline = registry({ upstream: upstream.url });
  await importStore(
    { storage: offline.storage, bundles: offline.bundles, clock: () => new Date() },
    (async function* () {
      yield* lines;
    })(),
  );
  upstream.set("500");
  const res = await offline.app.request("/@std/assert/1.0.0/mod.ts");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'export const version = "1.0.0";\n');
  const meta = await offline.app.request("/@std/assert/meta.json");
  assert.equal(meta.headers.get("x-registry-upstream"), "stale");
  await meta.body?.cancel();
});
