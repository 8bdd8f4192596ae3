// `main.ts gc` over bundles in an S3 bucket (s3rver): orphan blobs deleted, what
// a crashed upload left swept, the report on stdout and the summary on stderr.
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { runCli } from "./cli.ts";
import { S3BundleStorage } from "../storage/s3.ts";
import { S3RVER_KEY, startS3rver } from "../tests/_s3rver.ts";

Deno.test("main.ts gc with --bundles=s3 deletes orphan blobs and sweeps what an upload left", async () => {
  const s3 = await startS3rver(["registry"]);
  const dir = await Deno.makeTempDir({ prefix: "s3gc_" });
  try {
    (await Deno.openKv(`${dir}/registry.kv`)).close();
    const blobs = await S3BundleStorage.open({
      ...S3RVER_KEY,
      bucket: "registry",
      endpoint: s3.endpoint,
      retryDelayMs: 1,
      prefix: "b/",
    });
    const orphan = await blobs.put(new TextEncoder().encode("referenced by no version"));
    const client = new AwsClient({ ...S3RVER_KEY, service: "s3", region: "us-east-1" });
    const left = await client.fetch(`${s3.endpoint}/registry/b/uploads/crashed`, {
      method: "PUT",
      body: "partial",
    });
    assert.equal(left.status, 200);
    await left.body?.cancel();
    // LastModified has one-second precision: let a whole second pass so --grace=0s covers both.
    await new Promise((r) => setTimeout(r, 1100));
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      [
        "gc",
        "--grace=0s",
        `--storage=kv:${dir}/registry.kv`,
        "--bundles=s3:registry/b",
        `--s3-endpoint=${s3.endpoint}`,
      ],
      { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" },
      {
        out: (l) => out.push(l),
        // The summary line goes to stderr; the JSON report to stdout.
        err: (l) => err.push(l),
      },
    );
    assert.equal(code, 0, err.join("\n"));
    assert.match(err.join("\n"), /^registry: gc deleted 1 orphans/);
    const report = JSON.parse(out.join("\n"));
    assert.deepEqual(report.orphans.map((o: { sha256: string }) => o.sha256), [orphan.sha256]);
    assert.equal(report.uploadsSwept, 1);
    assert.equal(await blobs.stat(orphan.sha256), null);
    assert.equal(await blobs.sweepUploads(new Date(Date.now() + 60_000)), 0);
  } finally {
    await s3.close();
    await Deno.remove(dir, { recursive: true });
  }
});
