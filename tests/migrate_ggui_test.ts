// `main.ts migrate ggui` over the original's own registry-data fixture: the
// server then answers the original's reads, a second run changes nothing,
// and corrupted copies are refused version by version, naming the file.
import assert from "node:assert/strict";
import { toBase64 } from "../base/digest.ts";
import { gguiInstall, InstallError } from "./_stock_clients.ts";
import { startServer } from "./_server.ts";
import { copyFixture, counts, migrate, ORIGINALS, snapshot, targets } from "./_migrate_helpers.ts";
import { runCli } from "../server/cli.ts";

const SRC = `${ORIGINALS}/ggui-registry-data`;
const OLD_HOST = "http://127.0.0.1:18801";
const ALICE = "gg-A-alice-5c1e9a";

function storeFlags(dir: string): string[] {
  return [`--storage=kv:${dir}/r.kv`, `--bundles=fs:${dir}/b`];
}

async function sourceRows(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const e of Deno.readDir(`${SRC}/state/versions`)) {
    rows.push(JSON.parse(await Deno.readTextFile(`${SRC}/state/versions/${e.name}`)));
  }
  return rows;
}

Deno.test("migrate ggui: the server then answers the original's reads for every version, key and bundle file", async () => {
  await using tmp = await tempDir();
  const first = await migrate(["ggui", SRC, ...storeFlags(tmp.path)]);
  assert.deepEqual(first.code, 0, first.err);
  assert.deepEqual(counts(first.report).imported, 11);
  assert.deepEqual(targets(first.err, "imported").length, 11);
  // bob reads his own scope through a stored token of subject bob.
  const out: string[] = [];
  const made = await runCli(
    ["token", "create", "--subject=bob", ...storeFlags(tmp.path)],
    {},
    { out: (l) => out.push(l), err: () => {} },
  );
  assert.deepEqual(made, 0);
  const bob = JSON.parse(out.join("\n")).secret as string;
  await using server = await startServer([
    ...storeFlags(tmp.path),
    `--token=${ALICE}`,
    "--subject=alice",
  ]);
  const host = server.url;
  const get = (path: string, token?: string) =>
    fetch(`${host}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  for (const row of await sourceRows()) {
    const id = String(row.artifactId);
    const token = id.startsWith("@acme-ui/") ? ALICE : bob;
    const res = await get(`/pkg/${id}/${row.version}`, token);
    assert.deepEqual(res.status, 200, `${id}@${row.version}`);
    const body = await res.json() as Record<string, string>;
    const expected: Record<string, unknown> = {
      manifest: row.manifest,
      authorPublicKey: row.authorPublicKey,
      publishedAt: row.publishedAt,
      publishedBy: row.publishedBy,
      scopeVerification: "unverified",
    };
    for (const f of ["bundleUrl", "bundleSri", "signatureUrl"]) {
      if (row[f] !== undefined) expected[f] = String(row[f]).replace(OLD_HOST, host);
    }
    if (row.compiledDigest !== undefined) {
      const blob = JSON.parse(
        await Deno.readTextFile(`${SRC}/state/compiled-blobs/${row.compiledDigest}.json`),
      );
      expected.compiledDigest = row.compiledDigest;
      expected.compiledBytes = blob.compiledBytes;
    }
    assert.deepEqual(body, expected);
    // The stock CLI's install path over the real port: read, fetch the bundle
    // from the bundleUrl served (now this server's), check its SRI, verify the
    // signature under the pinned authorPublicKey (WebCrypto, not our verifier).
    const installed = await gguiInstall(host, { artifactId: id, version: String(row.version) }, {
      token,
    });
    assert.equal(installed.signatureVerified, row.kind === "gadget", `${id}@${row.version}`);
    if (row.kind === "gadget") {
      assert.deepEqual(
        installed.code,
        await Deno.readFile(`${SRC}/bundles/private/${id}/${row.version}/bundle.js`),
      );
    }
    // Without credentials, as the stock CLI sends none: "not found (or not
    // visible)", as from the original (every fixture artifact is private).
    await assert.rejects(
      gguiInstall(host, { artifactId: id, version: String(row.version) }),
      InstallError,
      "not found (or not visible)",
    );
    // Strangers get the missing-artifact 404, as from the original.
    assert.deepEqual((await get(`/pkg/${id}/${row.version}`)).status, 404);
    await (await get(`/pkg/${id}/${row.version}`)).body?.cancel();
    const dir = `bundles/private/${id}/${row.version}`;
    const files = row.kind === "gadget"
      ? ["bundle.js", "bundle.js.sig", "manifest.json"]
      : ["manifest.json"];
    for (const file of files) {
      const served = await get(`/${dir}/${file}`, token);
      assert.deepEqual(served.status, 200, `${dir}/${file}`);
      assert.deepEqual(
        new Uint8Array(await served.arrayBuffer()),
        await Deno.readFile(`${SRC}/${dir}/${file}`),
        `${dir}/${file} byte for byte`,
      );
    }
  }
  // Version lists: every version, semver descending, as the original lists them.
  const list = await (await get("/pkg/@bob-tools/timer", bob)).json();
  assert.deepEqual(list.versions.map((v: { version: string }) => v.version), [
    "0.2.0",
    "0.2.0-rc.1",
    "0.1.0",
  ]);
  assert.deepEqual((await get("/pkg/@bob-tools/timer", ALICE)).status, 404);
  // Search lists public artifacts only: nothing here, as the original answered.
  assert.deepEqual(await (await get("/search")).json(), { results: [] });
  const keys = await (await get("/author-keys", ALICE)).json();
  const keyRow = JSON.parse(
    await Deno.readTextFile(`${SRC}/state/author-keys/alice__t17krILYt0miR2dY.json`),
  );
  assert.ok(JSON.stringify(keys).includes(keyRow.publicKeyBase64), keyRow.publicKeyBase64);
  assert.ok(JSON.stringify(keys).includes(keyRow.keyId), keyRow.keyId);
  await server.stop();
});

Deno.test("migrate ggui: a second run finds everything identical and changes nothing", async () => {
  await using tmp = await tempDir();
  assert.deepEqual((await migrate(["ggui", SRC, ...storeFlags(tmp.path)])).code, 0);
  const before = await snapshot(`${tmp.path}/r.kv`, `${tmp.path}/b`);
  const again = await migrate(["ggui", SRC, ...storeFlags(tmp.path)]);
  assert.deepEqual(again.code, 0, again.err);
  assert.deepEqual(counts(again.report).imported, 0);
  assert.deepEqual(counts(again.report).identical, 11);
  assert.deepEqual(targets(again.err, "identical").length, 11);
  assert.deepEqual(await snapshot(`${tmp.path}/r.kv`, `${tmp.path}/b`), before);
  // One audit record per imported version, actor migrate; no webhook outbox rows.
  const audits = before.split("\n").filter((l) => l.includes('"ggui.migrate"'));
  assert.deepEqual(audits.length, 11);
  assert.ok(audits.every((l) => l.includes('"actor":"migrate"')));
  assert.ok(!before.includes('["outbox"'));
});

Deno.test("migrate ggui: a version already in the target with other bytes is a conflict, never overwritten", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("ggui-registry-data", tmp.path);
  assert.deepEqual((await migrate(["ggui", src, ...storeFlags(tmp.path)])).code, 0);
  // The same version, re-published elsewhere with another publish time.
  const path = `${src}/state/versions/%40acme-ui%2Fchart__1.0.0.json`;
  const row = JSON.parse(await Deno.readTextFile(path));
  row.publishedAt = "2027-01-01T00:00:00.000Z";
  await Deno.writeTextFile(path, JSON.stringify(row, null, 2));
  const before = await snapshot(`${tmp.path}/r.kv`, `${tmp.path}/b`);
  const run = await migrate(["ggui", src, ...storeFlags(tmp.path)]);
  assert.deepEqual(run.code, 1);
  assert.ok(run.err.includes("%40acme-ui%2Fchart__1.0.0.json"), "%40acme-ui%2Fchart__1.0.0.json");
  assert.ok(run.err.includes("other content"), "other content");
  assert.deepEqual(await snapshot(`${tmp.path}/r.kv`, `${tmp.path}/b`), before);
});

Deno.test("migrate ggui: a yanked version stays yanked (410 with its body, yanked in the list)", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("ggui-registry-data", tmp.path);
  const path = `${src}/state/versions/%40acme-ui%2Fchart__1.1.0.json`;
  const row = JSON.parse(await Deno.readTextFile(path));
  await Deno.writeTextFile(path, JSON.stringify({ ...row, yanked: true }, null, 2));
  assert.equal((await migrate(["ggui", src, ...storeFlags(tmp.path)])).code, 0);
  await using server = await startServer([
    ...storeFlags(tmp.path),
    `--token=${ALICE}`,
    "--subject=alice",
  ]);
  const auth = { headers: { authorization: `Bearer ${ALICE}` } };
  const read = await fetch(`${server.url}/pkg/@acme-ui/chart/1.1.0`, auth);
  assert.equal(read.status, 410);
  assert.equal((await read.json()).publishedAt, row.publishedAt);
  const list = await (await fetch(`${server.url}/pkg/@acme-ui/chart`, auth)).json();
  assert.deepEqual(
    list.versions.map((v: { version: string; yanked: boolean }) => [v.version, v.yanked]),
    [["1.1.0", true], ["1.1.0-beta.1", false], ["1.0.0", false]],
  );
  await server.stop();
});

/** Build the seven corruptions of the issue in a copy; answers the paths each must name. */
async function corrupt(src: string): Promise<Record<string, string>> {
  const b = `${src}/bundles/private`;
  const v = (id: string, version: string) =>
    `${src}/state/versions/${encodeURIComponent(id)}__${version}.json`;
  // 1. A flipped byte in a bundle.
  const bundle = await Deno.readFile(`${b}/@acme-ui/chart/1.0.0/bundle.js`);
  bundle[10] = bundle[10]! ^ 1;
  await Deno.writeFile(`${b}/@acme-ui/chart/1.0.0/bundle.js`, bundle);
  // 2. A signature by another key (the envelope still names bob's key id).
  const sigPath = `${b}/@bob-tools/timer/0.1.0/bundle.js.sig`;
  const envelope = JSON.parse(await Deno.readTextFile(sigPath));
  const other = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-384",
      await Deno.readFile(`${b}/@bob-tools/timer/0.1.0/bundle.js`),
    ),
  );
  envelope.signature = toBase64(
    new Uint8Array(await crypto.subtle.sign("Ed25519", other.privateKey, digest)),
  );
  await Deno.writeTextFile(sigPath, JSON.stringify(envelope, null, 2));
  // 3. A truncated row.
  const truncated = v("@acme-ui/map-view", "0.1.0");
  const text = await Deno.readTextFile(truncated);
  await Deno.writeTextFile(truncated, text.slice(0, text.length / 2));
  // 4. A missing blob.
  await Deno.remove(`${b}/@acme-ui/map-view/0.2.0/bundle.js.sig`);
  // 5. `../` in a path: the row's version climbs out of its folder.
  const climbing = v("@acme-ui/dashboard", "1.1.0");
  const row = JSON.parse(await Deno.readTextFile(climbing));
  row.artifactId = "@acme-ui/../dashboard";
  await Deno.writeTextFile(climbing, JSON.stringify(row, null, 2));
  // 6. A symlink where a blob should be.
  const linked = `${b}/@acme-ui/chart/1.1.0/manifest.json`;
  await Deno.rename(linked, `${src}/elsewhere.json`);
  await Deno.symlink(`${src}/elsewhere.json`, linked);
  // 7. A bundle over the 5 MiB limit (sparse: nothing is written).
  const big = `${b}/@bob-tools/timer/0.2.0/bundle.js`;
  await Deno.truncate(big, 5 * 1024 * 1024 + 1);
  return {
    flipped: "bundles/private/@acme-ui/chart/1.0.0/bundle.js",
    otherKey: "bundles/private/@bob-tools/timer/0.1.0/bundle.js.sig",
    truncated: "state/versions/%40acme-ui%2Fmap-view__0.1.0.json",
    missing: "bundles/private/@acme-ui/map-view/0.2.0/bundle.js.sig",
    climbing: "state/versions/%40acme-ui%2Fdashboard__1.1.0.json",
    symlink: "bundles/private/@acme-ui/chart/1.1.0/manifest.json",
    big: "bundles/private/@bob-tools/timer/0.2.0/bundle.js",
  };
}

Deno.test("migrate ggui: corrupted versions are named by path in the dry run and the real run, and only they are left out", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("ggui-registry-data", tmp.path);
  const named = await corrupt(src);
  const dry = await migrate(["ggui", src, "--dry-run", ...storeFlags(tmp.path)]);
  // The dry run wrote nothing, not even an empty store.
  await Deno.stat(`${tmp.path}/r.kv`).then(
    () => assert.fail("the dry run wrote a store"),
    () => {},
  );
  const real = await migrate(["ggui", src, ...storeFlags(tmp.path)]);
  for (const run of [dry, real]) {
    assert.deepEqual(run.code, 1);
    for (const path of Object.values(named)) assert.ok(run.err.includes(path), path);
    assert.deepEqual((run.report.refused as unknown[]).length, 7, run.err);
    assert.deepEqual(counts(run.report).refused, 7, run.err);
    assert.deepEqual(targets(run.err, "imported").sort(), [
      "@acme-ui/chart@1.1.0-beta.1",
      "@acme-ui/dashboard@1.0.0",
      "@bob-tools/signup-form@0.1.0",
      "@bob-tools/timer@0.2.0-rc.1",
    ]);
  }
  assert.match(real.err, /over the 5242880-byte limit/);
  assert.match(real.err, /does not verify/);
  assert.match(real.err, /is not valid JSON/);
  assert.match(real.err, /is a symlink/);
  // Nothing of a refused version is in the store: its rows are absent.
  const rows = await snapshot(`${tmp.path}/r.kv`, `${tmp.path}/b`);
  assert.ok(!rows.includes('"chart","1.0.0"'));
  assert.ok(rows.includes('"chart","1.1.0-beta.1"'));
  assert.ok(!rows.includes('"timer","0.1.0"'));
});

Deno.test("migrate ggui: bad input is one line naming the path, exit 1 for data and 2 for usage", async () => {
  await using tmp = await tempDir();
  const cases: [string[], number, RegExp][] = [
    [["ggui", `${tmp.path}/nope`], 1, /nope: does not exist/],
    [
      ["ggui", `${ORIGINALS}/ggui-README.md`],
      1,
      /ggui-README\.md: does not exist or is not a directory/,
    ],
    [["ggui", `${ORIGINALS}/rack-storage-root`], 1, /looks like a Rack STORAGE_ROOT/],
    [["rack", SRC], 1, /looks like a ggui registry-data directory/],
    [["ggui"], 2, /needs the directory/],
    [["svn", SRC], 2, /unknown source 'svn'/],
    [["ggui", SRC, "--tokens=import"], 2, /does not take --tokens/],
    [["ggui", SRC, "--old-bundle-host=ftp://x"], 2, /must be an http\(s\) origin/],
  ];
  await Deno.mkdir(`${tmp.path}/empty`);
  cases.push([["ggui", `${tmp.path}/empty`], 1, /empty: is empty|is empty/]);
  for (const [args, code, message] of cases) {
    const run = await migrate([...args, ...storeFlags(tmp.path)]);
    assert.deepEqual(run.code, code, `${args.join(" ")}: ${run.err}`);
    assert.match(run.err.split("\n")[0]!, message);
  }
  // Nothing was opened or written for any of them.
  await Deno.stat(`${tmp.path}/r.kv`).then(
    () => assert.ok(false, "a store was created"),
    () => {},
  );
  // An entry that cannot be read as a file, and JSON that does not parse: named, exit 1.
  const src = await copyFixture("ggui-registry-data", tmp.path);
  await Deno.mkdir(`${src}/state/author-keys/odd__x.json`);
  await Deno.writeTextFile(`${src}/state/scope-owners/%40bob-tools.json`, "{");
  const run = await migrate(["ggui", src, ...storeFlags(tmp.path)]);
  assert.deepEqual(run.code, 1);
  assert.ok(run.err.includes("state/author-keys/odd__x.json: is a dir, not a file"), run.err);
  assert.ok(
    run.err.includes("state/scope-owners/%40bob-tools.json: is not valid JSON"),
    "state/scope-owners/%40bob-tools.json: is not valid JSON",
  );
});

async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "migrate-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
