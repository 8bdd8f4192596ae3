// Rack's R2 mode end to end: a real main.ts with STORAGE_BACKEND=r2 (s3rver on
// loopback standing in for R2, S3_ENDPOINT pointing at it), the fixture's
// packages uploaded as the Rack docs say (tar -czf, then curl -F), and then:
// the bucket holds Rack's key layout exactly as the original writes it (same
// keys and bytes as the fixture STORAGE_ROOT written by the original server),
// and a reader of the bucket alone (the Worker's stand-in) serves what the
// server's own routes serve. Then the faults: a bucket failing between files
// (no registry.json until the version is complete), a server restarted while
// the mirror is behind, and a whole outage of the mirror's bucket.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../base/digest.ts";
import { S3BundleStorage } from "../storage/s3.ts";
import { bucketKeys, eventually, objectBytes } from "./_bucket.ts";
import { bucketReader } from "./_rack_bucket_reader.ts";
import { curlRackUpload } from "./_rack_fixtures.ts";
import { parsePrometheusText } from "./_prometheus.ts";
import { S3RVER_KEY, startS3rver } from "./_s3rver.ts";
import { startS3Proxy } from "./_s3_proxy.ts";
import { type RunningServer, startServer } from "./_server.ts";

const FIXTURE = fileURLToPath(
  new URL("../../shared/fixtures/originals/rack-storage-root", import.meta.url),
);
const AUTH = fileURLToPath(
  new URL("../../shared/fixtures/originals/rack-auth.json", import.meta.url),
);
const ADMIN = "rack-admin-tok-A7";
const PUBLISH: Record<string, string> = { "@rack": ADMIN, "@acme": "acme-publish-tok-A7" };
const READ = "acme-read-tok-A7";
const BUCKET = "rack-registry";
/** The fixture's packages in the order the original received them (its README). */
const PACKAGES = [
  "@rack/quality/husky",
  "@rack/runtimes/node",
  "@rack/build/typescript",
  "@acme/features/auth-kit",
  "@acme/frameworks/vue/router",
];

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await filesUnder(dir, path));
    else out.push(path);
  }
  return out.sort();
}

/** The versions of a fixture package, oldest first (its versions.json reversed). */
async function fixtureVersions(pkg: string): Promise<string[]> {
  const doc = JSON.parse(await Deno.readTextFile(`${FIXTURE}/${pkg}/versions.json`));
  return [...doc.versions].reverse();
}

/** Pack a version folder as the Rack docs say (`tar -czf … .`) and upload it with curl -F. */
async function curlUpload(url: string, pkg: string, version: string, tmp: string) {
  const archive = `${tmp}/${pkg.replaceAll("/", "_")}-${version}.tar.gz`;
  const tar = await new Deno.Command("tar", {
    args: ["-czf", archive, "-C", `${FIXTURE}/${pkg}/${version}`, "."],
  }).output();
  assert.equal(tar.code, 0, new TextDecoder().decode(tar.stderr));
  const checksum = sha256Hex(await Deno.readFile(archive));
  const token = PUBLISH[pkg.split("/")[0]!]!;
  const answer = await curlRackUpload(url, token, archive, checksum);
  assert.equal(answer.status, "201", `${pkg}@${version}: ${answer.body}`);
}

function openBucket(endpoint: string, bucket = BUCKET): Promise<S3BundleStorage> {
  return S3BundleStorage.open({
    bucket,
    endpoint,
    region: "auto",
    ...S3RVER_KEY,
    attempts: 1,
  });
}

/**
 * A Rack R2-mode server's surroundings: s3rver behind a recording proxy, a
 * temp dir holding auth.json and the KV file, a bucket client; all closed after.
 */
async function withR2Mirror(
  prefix: string,
  run: (env: {
    proxy: ReturnType<typeof startS3Proxy>;
    tmp: string;
    bucket: S3BundleStorage;
    start: () => ReturnType<typeof startServer>;
  }) => Promise<void>,
): Promise<void> {
  const s3 = await startS3rver([BUCKET]);
  const proxy = startS3Proxy(s3.endpoint);
  const tmp = await Deno.makeTempDir({ prefix });
  try {
    await Deno.copyFile(AUTH, `${tmp}/auth.json`);
    const start = () =>
      startServer([`--storage=kv:${tmp}/registry.kv`, ...QUIET], {
        env: r2Env(proxy.endpoint, `${tmp}/auth.json`),
      });
    const bucket = await openBucket(s3.endpoint);
    try {
      await run({ proxy, tmp, bucket, start });
    } finally {
      await bucket.close();
    }
  } finally {
    await proxy.close();
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Rack's R2 mode, as its operators configure it, with the endpoint pointed at `endpoint`. */
function r2Env(endpoint: string, authPath: string): Record<string, string> {
  return {
    STORAGE_BACKEND: "r2",
    R2_BUCKET_NAME: BUCKET,
    R2_ACCOUNT_ID: "0123456789abcdef",
    R2_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
    R2_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
    S3_ENDPOINT: endpoint,
    AUTH_CONFIG_PATH: authPath,
    ADMIN_TOKEN: ADMIN,
  };
}

const METRICS_TOKEN = "metrics-tok-A7";

/** The Rack mirror's series in the server's /metrics (the full view, with the token). */
async function mirrorMetrics(url: string) {
  const res = await fetch(`${url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  assert.equal(res.status, 200);
  const samples = parsePrometheusText(await res.text());
  const value = (name: string, result?: string) =>
    samples.find((s) => s.name === name && s.labels.result === result)?.value ?? 0;
  return {
    queued: value("registry_rack_mirror_queued_items"),
    retrying: value("registry_rack_mirror_retrying_items"),
    lag: value("registry_rack_mirror_lag_seconds"),
    mirrored: value("registry_rack_mirror_items_total", "mirrored"),
    failed: value("registry_rack_mirror_items_total", "failed"),
  };
}

const SCHEMA_KEYS = ["schema/preset.json", "schema/rack.json", "schema/registry-item.json"];

const QUIET = [
  "--log-requests=false",
  "--rate-limit=0",
  "--upload-rate-limit=0",
  "--token-upload-rate-limit=0",
  "--read-cache-ms=0",
];

/** GET a path on the server and on the bucket reader: same status, type and bytes. */
async function assertSameRead(
  server: RunningServer,
  reader: (req: Request) => Promise<Response>,
  path: string,
  token?: string,
) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const a = await fetch(`${server.url}${path}`, { headers });
  const b = await reader(new Request(`http://worker${path}`, { headers }));
  const [ab, bb] = [new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer())];
  assert.equal(b.status, a.status, `${path}: status`);
  if (a.status !== 200) return;
  const type = (r: Response) => r.headers.get("content-type")?.split(";")[0];
  assert.equal(type(b), type(a), `${path}: content type`);
  if (type(a) === "application/json" && !path.startsWith("/registries/")) {
    assert.deepEqual(
      JSON.parse(new TextDecoder().decode(bb)),
      JSON.parse(new TextDecoder().decode(ab)),
      path,
    );
  } else assert.deepEqual(bb, ab, `${path}: bytes`);
}

Deno.test("Rack R2 mode: curl uploads leave the original's key layout in the bucket, and a bucket-only reader serves what the server serves", async () => {
  const s3 = await startS3rver([BUCKET]);
  const tmp = await Deno.makeTempDir({ prefix: "r2mirror_" });
  try {
    await Deno.copyFile(AUTH, `${tmp}/auth.json`);
    await using server = await startServer(
      [`--storage=kv:${tmp}/registry.kv`, ...QUIET],
      { env: r2Env(s3.endpoint, `${tmp}/auth.json`) },
    );
    for (const pkg of PACKAGES) {
      for (const version of await fixtureVersions(pkg)) {
        await curlUpload(server.url, pkg, version, tmp);
      }
    }
    const bucket = await openBucket(s3.endpoint);
    const expected = (await filesUnder(FIXTURE)).filter((p) => p !== ".healthcheck");
    await eventually("the mirror holds every key of the fixture", async () => {
      const keys = await bucketKeys(bucket, "@");
      return keys.length === expected.length;
    });
    // Exactly the original's keys, byte for byte (versions.json included), and nothing else.
    assert.deepEqual(await bucketKeys(bucket, "@"), expected);
    for (const path of expected) {
      assert.deepEqual(
        await objectBytes(bucket, path),
        await Deno.readFile(`${FIXTURE}/${path}`),
        path,
      );
    }
    assert.deepEqual(await objectBytes(bucket, ".auth/auth.json"), await Deno.readFile(AUTH));
    // The schema files, as /schemas/:file serves them (the original's schema/ keys).
    await eventually(
      "the schema files are mirrored",
      async () => (await bucketKeys(bucket, "schema/")).length === 3,
    );
    assert.deepEqual(await bucketKeys(bucket, "schema/"), SCHEMA_KEYS);

    // A preset through the server's admin route is mirrored too.
    const preset = { name: "starter", version: "1.0.0", registries: ["@rack/quality/husky"] };
    const put = await fetch(`${server.url}/presets/starter`, {
      method: "PUT",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify(preset),
    });
    assert.equal(put.status, 201, await put.text());
    await eventually(
      "the preset is mirrored",
      async () => (await objectBytes(bucket, "presets/starter/preset.json")) !== null,
    );

    // The Worker's stand-in, reading only the bucket, serves what the server serves.
    const reader = bucketReader(bucket, { adminToken: ADMIN });
    for (const pkg of PACKAGES) {
      const gated = pkg.startsWith("@acme") ? READ : undefined;
      await assertSameRead(server, reader, `/registries/${pkg}/versions`, gated);
      await assertSameRead(server, reader, `/registries/${pkg}`, gated);
      for (const version of await fixtureVersions(pkg)) {
        await assertSameRead(server, reader, `/registries/${pkg}/${version}`, gated);
        for (const file of await filesUnder(`${FIXTURE}/${pkg}/${version}`)) {
          if (file === "registry.json") continue;
          await assertSameRead(
            server,
            reader,
            `/registries/${pkg}/${version}/files/${file}`,
            gated,
          );
        }
      }
    }
    await assertSameRead(server, reader, "/registries/@acme/features/auth-kit/versions");
    await assertSameRead(server, reader, "/namespaces");
    await assertSameRead(server, reader, "/namespaces", READ);
    await assertSameRead(server, reader, "/namespaces/@acme/registries", READ);
    await assertSameRead(server, reader, "/namespaces/@rack/registries");
    await assertSameRead(server, reader, "/presets/starter");
    for (const key of SCHEMA_KEYS) {
      await assertSameRead(server, reader, `/schemas/${key.slice("schema/".length)}`);
    }
    await assertSameRead(server, reader, "/registries/@rack/quality/husky/9.9.9");

    // A hard delete (the admin API) is reflected: gone from versions.json, then its objects.
    const del = await fetch(
      `${server.url}/admin/packages/%40rack/quality/husky/versions/1.1.0-beta.1`,
      { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } },
    );
    assert.equal(del.status, 200, await del.text());
    await eventually(
      "the deleted version leaves the bucket",
      async () => (await bucketKeys(bucket, "@rack/quality/husky/1.1.0-beta.1/")).length === 0,
    );
    await assertSameRead(server, reader, "/registries/@rack/quality/husky/versions");
    await assertSameRead(server, reader, "/registries/@rack/quality/husky/1.1.0-beta.1");
    await bucket.close();
  } finally {
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});

Deno.test("Rack R2 mode: a bucket failing between a version's files leaves no registry.json; the mirror completes it after a restart", () =>
  withR2Mirror("r2mirror_fail_", async ({ proxy, start, bucket, tmp }) => {
    const pkg = "@rack/build/typescript";
    const base = `${pkg}/1.1.0`;
    let server = await start();
    await curlUpload(server.url, pkg, "1.0.0", tmp);
    await eventually(
      "1.0.0 is mirrored",
      async () => (await objectBytes(bucket, `${pkg}/versions.json`)) !== null,
    );
    // The bucket refuses one file of 1.1.0 (its bundles and other files still go in).
    proxy.refuse = (method, path) =>
      method === "PUT" && path.endsWith(`${base}/templates/tsconfig.json`);
    await curlUpload(server.url, pkg, "1.1.0", tmp);
    await eventually(
      "the mirror tried the refused file and will retry",
      () => Promise.resolve(proxy.refused.length >= 2),
    );
    const keys = await bucketKeys(bucket, `${base}/`);
    assert.ok(keys.includes(`${base}/templates/src/index.ts`), `files before it went up: ${keys}`);
    assert.ok(
      !keys.includes(`${base}/registry.json`),
      "no publish marker for an incomplete version",
    );
    const listed = JSON.parse(
      new TextDecoder().decode((await objectBytes(bucket, `${pkg}/versions.json`))!),
    );
    assert.deepEqual(listed, { versions: ["1.0.0"] }, "not listed while incomplete");
    // The server's own routes serve it already: the mirror is eventual, the publish is not.
    assert.equal((await fetch(`${server.url}/registries/${base}`)).status, 200);

    // Restart (a clean stop) while the mirror is behind, then let the bucket recover.
    assert.equal(await server.stop(), 0);
    server = await start();
    proxy.refuse = undefined;
    await eventually(
      "the restarted server completes the version",
      async () => (await objectBytes(bucket, `${base}/registry.json`)) !== null,
    );
    await eventually(
      "versions.json lists it",
      async () =>
        new TextDecoder().decode((await objectBytes(bucket, `${pkg}/versions.json`))!) ===
          await Deno.readTextFile(`${FIXTURE}/${pkg}/versions.json`),
    );
    for (const path of await filesUnder(`${FIXTURE}/${base}`)) {
      assert.deepEqual(
        await objectBytes(bucket, `${base}/${path}`),
        await Deno.readFile(`${FIXTURE}/${base}/${path}`),
      );
    }
    // registry.json went up after every other file of its version.
    const puts = proxy.seen.filter((l) => l.startsWith(`PUT /${BUCKET}/${base}/`));
    assert.ok(puts.at(-1)!.endsWith("/registry.json"), puts.join("\n"));
    await server.stop();
  }));

Deno.test("Rack R2 mode: a server SIGKILLed while the mirror writes a version's files leaves no registry.json; the next server completes it", () =>
  withR2Mirror("r2mirror_kill_", async ({ proxy, start, bucket, tmp }) => {
    const pkg = "@acme/features/auth-kit";
    const base = `${pkg}/0.2.0`;
    const killed = await start();
    // The mirror's write of one file of 0.2.0 hangs; the server dies while it is in flight.
    proxy.hold = (method, path) =>
      method === "PUT" && path.endsWith(`${base}/templates/src/auth/session.ts`);
    await curlUpload(killed.url, pkg, "0.2.0", tmp);
    await eventually(
      "the mirror is in the middle of 0.2.0",
      () => Promise.resolve(proxy.held.length > 0),
    );
    await killed.kill();
    proxy.release();
    const keys = await bucketKeys(bucket, `${base}/`);
    assert.ok(
      keys.includes(`${base}/templates/src/auth/index.ts`),
      `files before it went up: ${keys}`,
    );
    assert.ok(
      !keys.includes(`${base}/registry.json`),
      "no publish marker for a half-written version",
    );
    assert.equal(await objectBytes(bucket, `${pkg}/versions.json`), null, "not listed");
    // The next server takes the item once the dead one's lease (30 s) has run out, and completes it.
    await using next = await start();
    await eventually(
      "the next server completes 0.2.0",
      async () => (await objectBytes(bucket, `${base}/registry.json`)) !== null,
    );
    for (const path of await filesUnder(`${FIXTURE}/${base}`)) {
      assert.deepEqual(
        await objectBytes(bucket, `${base}/${path}`),
        await Deno.readFile(`${FIXTURE}/${base}/${path}`),
        path,
      );
    }
    await eventually(
      "versions.json lists it",
      async () => (await objectBytes(bucket, `${pkg}/versions.json`)) !== null,
    );
    assert.ok(next.url);
  }));

Deno.test("--rack-mirror=s3:<bucket> with fs bundles: publishes succeed during the bucket's outage, /metrics shows the backlog, and the mirror catches up when it is back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "r2mirror_outage_s3_" });
  let s3 = await startS3rver(["rack-mirror"], { directory: dir });
  const port = Number(new URL(s3.endpoint).port);
  const tmp = await Deno.makeTempDir({ prefix: "r2mirror_outage_" });
  const pkg = "@rack/quality/husky";
  try {
    await Deno.copyFile(AUTH, `${tmp}/auth.json`);
    await using server = await startServer([
      `--storage=kv:${tmp}/registry.kv`,
      `--bundles=fs:${tmp}/bundles`,
      "--rack-mirror=s3:rack-mirror",
      `--auth-config=${tmp}/auth.json`,
      `--admin-token=${ADMIN}`,
      `--metrics-token=${METRICS_TOKEN}`,
      ...QUIET,
    ], {
      env: {
        S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
      },
    });
    await s3.close(); // the outage
    for (const version of await fixtureVersions(pkg)) {
      await curlUpload(server.url, pkg, version, tmp);
    }
    await eventually(
      "the server says the mirror failed and will retry",
      () => Promise.resolve(server.output().includes("Rack mirror write failed (will retry)")),
    );
    // /metrics shows the backlog: every upload waiting, failed attempts, a lag that grows.
    const versions = (await fixtureVersions(pkg)).length;
    await eventually("the mirror's metrics show the outage", async () => {
      const m = await mirrorMetrics(server.url);
      return m.queued === versions && m.retrying >= 1 && m.failed >= 1 && m.lag > 0;
    });
    assert.equal((await mirrorMetrics(server.url)).mirrored, 0);
    s3 = await startS3rver(["rack-mirror"], { directory: dir, port });
    const bucket = await openBucket(s3.endpoint, "rack-mirror");
    await eventually(
      "the mirror catches up",
      async () =>
        (await objectBytes(bucket, `${pkg}/versions.json`)) !== null &&
        (await bucketKeys(bucket, "@")).length === (await filesUnder(`${FIXTURE}/${pkg}`)).length,
    );
    for (const path of await filesUnder(`${FIXTURE}/${pkg}`)) {
      assert.deepEqual(
        await objectBytes(bucket, `${pkg}/${path}`),
        await Deno.readFile(`${FIXTURE}/${pkg}/${path}`),
        path,
      );
    }
    await eventually("the mirror's metrics show it caught up", async () => {
      const m = await mirrorMetrics(server.url);
      return m.queued === 0 && m.retrying === 0 && m.lag === 0 && m.mirrored === versions;
    });
    // auth.json edits are copied when they parse, never when they do not.
    await Deno.writeTextFile(
      `${tmp}/auth.json`,
      '{"@rack": [], "@acme": [{"token": "new-tok", "publish": true}]}',
    );
    await eventually(
      "the edited auth.json is copied",
      async () =>
        new TextDecoder().decode((await objectBytes(bucket, ".auth/auth.json"))!).includes(
          "new-tok",
        ),
    );
    await Deno.writeTextFile(`${tmp}/auth.json`, "{ not json");
    await new Promise((r) => setTimeout(r, 2500));
    assert.match(
      new TextDecoder().decode((await objectBytes(bucket, ".auth/auth.json"))!),
      /new-tok/,
    );
    await bucket.close();
  } finally {
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("main.ts rack-mirror rebuild writes the whole layout again from the store; status lists nothing pending", async () => {
  const s3 = await startS3rver([BUCKET]);
  const tmp = await Deno.makeTempDir({ prefix: "r2mirror_rebuild_" });
  const pkg = "@acme/frameworks/vue/router";
  try {
    await Deno.copyFile(AUTH, `${tmp}/auth.json`);
    // An operator's SCHEMA_DIR: its bytes are what /schemas/:file serves and what is mirrored.
    await Deno.mkdir(`${tmp}/schema`);
    const schemaBytes = (file: string) => new TextEncoder().encode(`{"title":"${file}"}\n`);
    for (const key of SCHEMA_KEYS) {
      await Deno.writeFile(`${tmp}/${key}`, schemaBytes(key));
    }
    const env = { ...r2Env(s3.endpoint, `${tmp}/auth.json`), SCHEMA_DIR: `${tmp}/schema` };
    const server = await startServer([`--storage=kv:${tmp}/registry.kv`, ...QUIET], { env });
    for (const version of await fixtureVersions(pkg)) {
      await curlUpload(server.url, pkg, version, tmp);
    }
    const bucket = await openBucket(s3.endpoint);
    await eventually(
      "mirrored",
      async () =>
        (await objectBytes(bucket, `${pkg}/versions.json`)) !== null &&
        (await bucketKeys(bucket, "schema/")).length === SCHEMA_KEYS.length,
    );
    await server.stop();
    // Lost: someone emptied the bucket's Rack keys.
    for (const key of await bucketKeys(bucket, "@")) await bucket.deleteObject(key);
    for (const key of SCHEMA_KEYS) {
      assert.deepEqual(await objectBytes(bucket, key), schemaBytes(key), `${key} mirrored`);
      await bucket.deleteObject(key);
    }
    await bucket.deleteObject(".auth/auth.json");
    const main = fileURLToPath(new URL("../main.ts", import.meta.url));
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-kv",
          main,
          "rack-mirror",
          ...args,
          `--storage=kv:${tmp}/registry.kv`,
        ],
        env,
      }).output();
    const rebuilt = await run("rebuild");
    assert.equal(rebuilt.code, 0, new TextDecoder().decode(rebuilt.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(rebuilt.stdout)), {
      packages: 1,
      versions: 2,
      presets: 0,
      pruned: 0,
      auth: true,
      schemas: 3,
    });
    for (const key of SCHEMA_KEYS) {
      assert.deepEqual(await objectBytes(bucket, key), schemaBytes(key), `${key} rebuilt`);
    }
    assert.deepEqual(
      await bucketKeys(bucket, "@"),
      (await filesUnder(`${FIXTURE}/${pkg}`)).map((p) => `${pkg}/${p}`),
    );
    for (const path of await filesUnder(`${FIXTURE}/${pkg}`)) {
      assert.deepEqual(
        await objectBytes(bucket, `${pkg}/${path}`),
        await Deno.readFile(`${FIXTURE}/${pkg}/${path}`),
        path,
      );
    }
    assert.deepEqual(await objectBytes(bucket, ".auth/auth.json"), await Deno.readFile(AUTH));
    const status = await run("status");
    assert.equal(status.code, 0);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(status.stdout)).pending, []);
    const bad = await run("rebuild", "--nope");
    assert.equal(bad.code, 2);
    await bucket.close();
  } finally {
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
