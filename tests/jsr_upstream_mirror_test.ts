// `main.ts mirror` against a real KV file and an upstream on 127.0.0.1: it
// fills the cache (with the jsr: packages the files import), skips namespaces
// the rules keep off the upstream, checks deno.lock checksums, and a registry
// on the same store then serves everything with the upstream failing.
import assert from "node:assert/strict";
import { parseServerArgs } from "../server/config.ts";
import { openStores } from "../server/open.ts";
import { runMirror } from "../server/mirror.ts";
import { createRegistryApp } from "../routes/app.ts";
import { publish, startUpstream } from "./_jsr_upstream_fixtures.ts";

async function mirror(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runMirror(args, {}, {
    out: (l) => out += l + "\n",
    err: (l) => err += l + "\n",
  });
  return { code, out, err };
}

Deno.test("mirror fills the cache with dependencies, skips fenced namespaces, and the cache serves offline", async () => {
  await using upstream = startUpstream();
  await publish(upstream.app, "std/internal/1.2.0");
  await publish(upstream.app, "std/assert/1.0.0");
  await publish(upstream.app, "std/assert/1.1.0", {
    "dep.ts": 'export * from "jsr:@std/internal@^1.0.0";\n',
  });
  await publish(upstream.app, "acme/secret/1.0.0");
  const dir = await Deno.makeTempDir({ prefix: "jsr-mirror-" });
  try {
    const store = [`--storage=kv:${dir}/r.kv`, `--data-dir=${dir}`];
    const flags = [...store, `--jsr-upstream=${upstream.url}`, "--jsr-upstream-deny=@acme"];
    const run = await mirror(["jsr:@std/assert@^1", "jsr:@acme/secret", ...flags]);
    assert.equal(run.code, 0, run.err);
    const report = JSON.parse(run.out);
    assert.deepEqual(report.versions, ["@std/assert@1.1.0", "@std/internal@1.2.0"]);
    assert.deepEqual(report.skipped, [{
      target: "jsr:@acme/secret",
      reason: "@acme is not read upstream",
    }]);
    assert.equal(report.fetched, report.files);
    assert.match(run.err, /mirrored @std\/assert@1\.1\.0 \(3 files, 3 fetched\)/);
    assert.deepEqual(upstream.seen.filter((p) => p.includes("acme")), []);

    // A lockfile whose checksum differs from the cached metadata fails, naming both.
    const lock = `${dir}/deno.lock`;
    await Deno.writeTextFile(
      lock,
      JSON.stringify({
        version: "5",
        jsr: { "@std/assert@1.0.0": { integrity: "0".repeat(64) } },
      }),
    );
    const bad = await mirror([`--from=${lock}`, ...flags]);
    assert.equal(bad.code, 1);
    assert.match(JSON.parse(bad.out).failed[0].error, /deno\.lock pins 0{64}/);

    // The store alone serves the mirrored packages: the upstream now fails everything.
    upstream.set("500");
    const parsed = parseServerArgs(store, {});
    assert.ok(parsed.ok);
    const stores = await openStores(parsed.config);
    const app = createRegistryApp({
      storage: stores.storage,
      bundles: stores.bundles,
      bundleHost: "http://127.0.0.1:9",
      registryHostname: "127.0.0.1:9",
      rateLimitPerMinute: 0,
      jsrUpstream: { url: upstream.url, timeoutMs: 10_000, freshMs: 0 },
    });
    for (const path of ["/@std/assert/1.1.0/dep.ts", "/@std/internal/1.2.0/mod.ts"]) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      await res.body?.cancel();
    }
    const meta = await app.request("/@std/assert/meta.json");
    assert.equal(meta.status, 200);
    assert.equal(meta.headers.get("x-registry-upstream"), "stale");
    await meta.body?.cancel();
    await stores.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mirror refuses what is not a jsr: specifier, and an upstream that is off", async () => {
  assert.equal((await mirror(["npm:react"])).code, 2);
  assert.equal((await mirror([])).code, 2);
  const off = await mirror(["jsr:@std/assert", "--storage=memory", "--jsr-upstream=off"]);
  assert.equal(off.code, 2);
  assert.match(off.err, /--jsr-upstream is off/);
});
