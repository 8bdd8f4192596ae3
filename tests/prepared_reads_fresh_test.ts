// The answers the prepared-read path keeps (finished and compressed forms of
// JSR meta.json, Rack versions lists and latest, answered at once from the
// read cache) follow every change at once: the real server on a real port,
// over a real KV file, with a read cache long enough that nothing expires
// during the test, so only the change itself can make a kept answer go.
// Each read is asked plain and compressed, twice, so both forms are kept
// before the change and must both be new after it.
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";
import { makeItem, makePackage, makeTarball, uploadRequest } from "./_rack_fixtures.ts";

const ADMIN = "admin-secret";
const ALICE = "tok-alice";

/** What a client reads: status, ETag and the body (as JSON when it is), in every encoding. */
async function read(url: string, headers: Record<string, string> = {}) {
  const seen: { status: number; etag: string | null; body: unknown }[] = [];
  for (const encoding of ["identity", "gzip", "br", "identity", "gzip", "br"]) {
    const res = await fetch(url, { headers: { ...headers, "accept-encoding": encoding } });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch { /* not JSON: compared as text */ }
    seen.push({ status: res.status, etag: res.headers.get("etag"), body });
  }
  for (const other of seen.slice(1)) assert.deepEqual(other, seen[0], url);
  return seen[0]!;
}

/** The meta.json of `@scope/greet`. */
function metaJson(scope: string, latest: string, versions: Record<string, { yanked?: true }>) {
  return { scope, name: "greet", latest, versions };
}

async function publishJsr(base: string, pkg: string, version: string): Promise<void> {
  const [scope, name] = pkg.slice(1).split("/") as [string, string];
  const tarball = await makeTarball({
    "deno.json": JSON.stringify({ name: pkg, version, exports: { ".": "./mod.ts" } }),
    "mod.ts": `export const version = "${version}";\n`,
  });
  const res = await fetch(
    `${base}/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: `Bearer ${ALICE}` },
      body: tarball as BodyInit,
    },
  );
  const task = await res.json();
  assert.ok(res.status < 300, `${res.status} ${JSON.stringify(task)}`);
  for (let i = 0; i < 500; i++) {
    const t = await (await fetch(`${base}/api/publish_status/${task.id}`)).json();
    if (t.status === "success") return;
    assert.notEqual(t.status, "failure", JSON.stringify(t));
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`publish of ${pkg}@${version} did not finish`);
}

async function yankJsr(base: string, pkg: string, version: string, yanked: boolean) {
  const [scope, name] = pkg.slice(1).split("/") as [string, string];
  const res = await fetch(`${base}/api/scopes/${scope}/packages/${name}/versions/${version}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${ALICE}`, "content-type": "application/json" },
    body: JSON.stringify({ yanked }),
  });
  assert.ok(res.status < 300, `${res.status} ${await res.text()}`);
}

async function uploadRack(base: string, version: string): Promise<void> {
  const archive = await makePackage({ item: makeItem({ version }) });
  const res = await fetch(uploadRequest(archive, { token: ADMIN, url: base }));
  assert.ok(res.status < 300, `${res.status} ${await res.text()}`);
}

async function withServer(fn: (base: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "prepared-fresh-" });
  try {
    await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ "@rack": [], "@pub": [] }));
    await using server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      `--data-dir=${dir}`,
      `--token=${ALICE}`,
      "--subject=alice",
      `--admin-token=${ADMIN}`,
      `--auth-config=${dir}/auth.json`,
      // Nothing read expires during the test: only a change may replace a kept answer.
      "--read-cache-ms=600000",
      "--log-requests=false",
      "--jsr-upstream=off",
      "--rate-limit=0",
      "--metadata-rate-limit=0",
    ]);
    await fn(server.url, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JSR meta.json is never stale: a publish, a yank, an unyank and a private version show at once", async () => {
  await withServer(async (base) => {
    const meta = `${base}/@pub/greet/meta.json`;
    await publishJsr(base, "@pub/greet", "1.0.0");
    const first = await read(meta);
    assert.deepEqual(first.body, metaJson("pub", "1.0.0", { "1.0.0": {} }));
    await read(meta); // kept, in every encoding

    await publishJsr(base, "@pub/greet", "1.1.0");
    const published = await read(meta);
    assert.deepEqual(published.body, metaJson("pub", "1.1.0", { "1.1.0": {}, "1.0.0": {} }));
    assert.notEqual(published.etag, first.etag);
    assert.equal((await read(`${base}/@pub/greet/1.1.0_meta.json`)).status, 200);

    await yankJsr(base, "@pub/greet", "1.1.0", true);
    const yanked = await read(meta);
    assert.deepEqual(
      yanked.body,
      metaJson("pub", "1.0.0", { "1.1.0": { yanked: true }, "1.0.0": {} }),
    );
    await yankJsr(base, "@pub/greet", "1.1.0", false);
    assert.deepEqual((await read(meta)).body, published.body, "unyanked: as before the yank");
    assert.equal((await read(meta)).etag, published.etag, "the same bytes, the same ETag");

    // @acme is not declared: its versions are private. A stranger's meta.json
    // answers as a missing package's; its owner's shows the version.
    const acme = `${base}/@acme/greet/meta.json`;
    const missing = await read(`${base}/@nobody/greet/meta.json`);
    assert.equal((await read(acme)).status, 404);
    await publishJsr(base, "@acme/greet", "1.0.0");
    const stranger = await read(acme);
    assert.equal(stranger.status, missing.status);
    assert.equal(
      JSON.stringify(stranger.body).replace("acme", "nobody"),
      JSON.stringify(missing.body),
    );
    const owner = await read(acme, { authorization: `Bearer ${ALICE}` });
    assert.deepEqual((owner.body as { versions: unknown }).versions, { "1.0.0": {} });
    await publishJsr(base, "@acme/greet", "1.1.0");
    const after = await read(acme, { authorization: `Bearer ${ALICE}` });
    assert.deepEqual((after.body as { versions: unknown }).versions, {
      "1.1.0": {},
      "1.0.0": {},
    });
    assert.equal((await read(acme)).status, 404, "still hidden from a stranger");
  });
});

Deno.test("JSR meta.json follows a namespace turning public: the next version is shown to strangers", async () => {
  await withServer(async (base, dir) => {
    const acme = `${base}/@acme/greet/meta.json`;
    await publishJsr(base, "@acme/greet", "1.0.0");
    assert.equal((await read(acme)).status, 404);
    // auth.json now declares @acme open to anyone: new versions are public.
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      JSON.stringify({ "@rack": [], "@pub": [], "@acme": [] }),
    );
    // The file is checked at most once a second.
    await new Promise((r) => setTimeout(r, 1_100));
    await publishJsr(base, "@acme/greet", "2.0.0");
    const seen = await read(acme);
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body, metaJson("acme", "2.0.0", { "2.0.0": {} }));
  });
});

Deno.test("Rack versions list and latest are never stale: an upload and a yank show at once", async () => {
  await withServer(async (base) => {
    const versions = `${base}/registries/@rack/quality/husky/versions`;
    const latest = `${base}/registries/@rack/quality/husky`;
    await uploadRack(base, "1.0.0");
    assert.deepEqual((await read(versions)).body, { versions: ["1.0.0"] });
    assert.equal((await read(latest)).status, 200);
    assert.equal(((await read(latest)).body as { version: string }).version, "1.0.0");
    assert.equal((await read(`${base}/registries/@rack/quality/husky/1.1.0`)).status, 404);

    await uploadRack(base, "1.1.0");
    assert.deepEqual((await read(versions)).body, { versions: ["1.1.0", "1.0.0"] });
    assert.equal(((await read(latest)).body as { version: string }).version, "1.1.0");
    assert.equal((await read(`${base}/registries/@rack/quality/husky/1.1.0`)).status, 200);

    const yank = await fetch(`${base}/admin/packages/@rack/quality/husky/versions/1.1.0/yank`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(yank.status, 200, await yank.text());
    assert.equal(((await read(latest)).body as { version: string }).version, "1.0.0");
    assert.deepEqual((await read(versions)).body, { versions: ["1.1.0", "1.0.0"] });
  });
});
