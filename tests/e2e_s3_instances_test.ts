// Instances that share no disk: two server processes (main.ts), each with its
// own --data-dir, rows in one KV file (standing in for a shared KV database),
// bundles in an S3 bucket (s3rver on loopback). What one instance publishes the
// other serves byte-exact on all three surfaces, and concurrent publishes of
// one version spread over both have exactly one winner.
import assert from "node:assert/strict";
import { GADGET_SOURCE, makeGadget, makeKey } from "./_ggui_fixtures.ts";
import {
  ADMIN,
  AUTH_JSON,
  makePackage,
  makeTarball,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";
import { S3RVER_KEY, startS3rver } from "./_s3rver.ts";
import { startServer } from "./_server.ts";
import { S3BundleStorage } from "../storage/s3.ts";
import { sha256Hex } from "../base/digest.ts";

const SHA256_NAME = /^[0-9a-f]{64}$/;

/** Every file name under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...await filesUnder(`${dir}/${e.name}`));
    else out.push(e.name);
  }
  return out;
}

Deno.test("two instances with no shared directory serve each other's publishes from the bucket", async () => {
  const s3 = await startS3rver(["registry"]);
  const rows = await Deno.makeTempDir({ prefix: "s3e2e_rows_" });
  const dirA = await Deno.makeTempDir({ prefix: "s3e2e_a_" });
  const dirB = await Deno.makeTempDir({ prefix: "s3e2e_b_" });
  try {
    const env = {
      S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
    };
    const args = (dataDir: string) => [
      `--data-dir=${dataDir}`,
      `--storage=kv:${rows}/registry.kv`,
      "--bundles=s3:registry/bundles",
      "--token=shared-token",
      "--subject=team",
      `--admin-token=${ADMIN}`,
      `--auth-config=${dataDir}/auth.json`,
      "--log-requests=false",
      "--upload-rate-limit=0",
      "--read-cache-ms=0",
    ];
    // Each instance its own copy of auth.json, as each machine would have.
    for (const dir of [dirA, dirB]) {
      await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify(AUTH_JSON));
    }
    await using a = await startServer(args(dirA), { env });
    await using b = await startServer(args(dirB), { env });
    const h = { authorization: "Bearer shared-token", "content-type": "application/json" };

    // ggui: 20 identical publishes spread over both instances, exactly one winner.
    const key = await makeKey();
    const reg = await fetch(`${a.url}/author-keys`, {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    const source = new TextEncoder().encode(GADGET_SOURCE + "// padding\n".repeat(1000));
    const body = JSON.stringify(
      await makeGadget(key, { manifest: { version: "1.0.0" }, source }),
    );
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => fetch(`${[a, b][i % 2]!.url}/publish`, { method: "POST", headers: h, body }),
      ),
    );
    const answers = await Promise.all(results.map(async (r) => ({
      status: r.status,
      body: await r.json(),
    })));
    const won = answers.filter((r) => r.status === 201);
    assert.equal(won.length, 1);
    assert.equal(answers.filter((r) => r.status === 409).length, 19);
    const bundlePath = new URL(won[0]!.body.bundleUrl).pathname;
    for (const server of [a, b]) {
      const res = await fetch(server.url + bundlePath, { headers: h });
      assert.equal(res.status, 200, server.url);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), source);
    }

    // Rack: upload on B (curl's multipart), files read on A.
    const up = await fetch(
      uploadRequest(await makePackage(), { token: ADMIN, url: b.url }),
    );
    assert.equal(up.status, 201, await up.clone().text());
    await up.body?.cancel();
    for (const [path, content] of Object.entries(TEMPLATE_FILES)) {
      const res = await fetch(`${a.url}/registries/@rack/quality/husky/1.0.0/files/${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), content);
    }

    // JSR: publish on A, module read on B.
    const mod = `export const greeting = "from A";\n${"// pad\n".repeat(2000)}`;
    const tarball = await makeTarball({
      "deno.json": JSON.stringify({ name: "@acme/greet", version: "1.0.0", exports: "./mod.ts" }),
      "mod.ts": mod,
    });
    const pub = await fetch(
      `${a.url}/api/scopes/acme/packages/greet/versions/1.0.0?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { authorization: "Bearer shared-token", "content-encoding": "gzip" },
        body: tarball as BodyInit,
      },
    );
    const task = await pub.json();
    assert.equal(task.status, "success", JSON.stringify(task));
    const read = await fetch(`${b.url}/@acme/greet/1.0.0/mod.ts`, { headers: h });
    assert.equal(read.status, 200);
    assert.equal(await read.text(), mod);

    // The bytes are in the bucket, and no blob file was written on either side's disk.
    const bucket = await S3BundleStorage.open({
      ...S3RVER_KEY,
      bucket: "registry",
      prefix: "bundles/",
      endpoint: s3.endpoint,
    });
    for (const bytes of [source, new TextEncoder().encode(mod)]) {
      assert.ok(await bucket.stat(sha256Hex(bytes)), "stored in the bucket");
    }
    for (const dir of [dirA, dirB, rows]) {
      const blobs = (await filesUnder(dir)).filter((n) => SHA256_NAME.test(n));
      assert.deepEqual(blobs, [], dir);
    }
  } finally {
    await s3.close();
    for (const dir of [rows, dirA, dirB]) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts refuses to start on a bucket that does not exist, in one line", async () => {
  const s3 = await startS3rver(["registry"]);
  const dir = await Deno.makeTempDir({ prefix: "s3e2e_" });
  try {
    const err = await startServer([
      `--data-dir=${dir}`,
      "--bundles=s3:missing-bucket",
    ], {
      env: {
        S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
      },
    }).then(() => null, (e: Error) => e);
    assert.ok(err);
    const lines = err.message.split("\n").filter((l) => l.startsWith("registry-server:"));
    assert.equal(lines.length, 1, err.message);
    assert.match(
      lines[0]!,
      /Could not open bucket 'missing-bucket' .*: the bucket does not exist$/,
    );
    assert.doesNotMatch(err.message, /\bat .*\.ts:\d+/, "no stack trace");
  } finally {
    await s3.close();
    await Deno.remove(dir, { recursive: true });
  }
});
