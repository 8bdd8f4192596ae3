// A server SIGKILLed in the middle of uploads into an S3 bucket leaves no
// visible version, and `main.ts gc` afterwards removes the orphan objects and
// aborts the multipart upload left in progress. The bucket is moto's S3 server
// (tests/_moto.ts): s3rver has no ListMultipartUploads or AbortMultipartUpload.
//
// Two uploads are in flight when the server is killed: X, whose body stalls
// after 20 MiB (its archive is a multipart upload with parts sent, never
// completed), and Y, a complete 9 MiB archive of 3,000 declared files whose
// archive blob and first files are stored while the rest are still going up
// (orphan objects under blobs/, no version committed yet).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../base/digest.ts";
import type { BlobHoldRow } from "../core/_blob_hold.ts";
import * as keys from "../storage/keys.ts";
import { KvRegistryStorage, openKvRetrying } from "../storage/kv.ts";
import { S3BundleStorage } from "../storage/s3.ts";
import { bucketKeys, eventually } from "./_bucket.ts";
import { startMoto } from "./_moto.ts";
import { makeItem, makeTarball, multipartStream } from "./_rack_fixtures.ts";
import { startServer } from "./_server.ts";

const ADMIN = "crash-admin";
const MIB = 1024 * 1024;

/** The multipart uploads in progress in the bucket, each with its part count (moto implements both calls). */
async function uploadsInProgress(endpoint: string): Promise<{ key: string; parts: number }[]> {
  const xml = await (await fetch(`${endpoint}/registry?uploads`)).text();
  const out: { key: string; parts: number }[] = [];
  for (const m of xml.matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)) {
    const key = /<Key>([^<]*)<\/Key>/.exec(m[1]!)![1]!;
    const id = /<UploadId>([^<]*)<\/UploadId>/.exec(m[1]!)![1]!;
    const parts =
      await (await fetch(`${endpoint}/registry/${key}?uploadId=${encodeURIComponent(id)}`)).text();
    out.push({ key, parts: [...parts.matchAll(/<Part>/g)].length });
  }
  return out;
}

/** A multipart form whose file part sends `bytes` and then stalls until cancelled. */
function stallingUpload(bytes: number): ReadableStream<Uint8Array> {
  const chunk = crypto.getRandomValues(new Uint8Array(64 * 1024));
  let sent = 0;
  const file = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= bytes) return await new Promise(() => {}); // never more, never done
      sent += chunk.byteLength;
      c.enqueue(chunk);
    },
  });
  return multipartStream({ boundary: "crash-boundary-x", file });
}

/** A valid archive of `count` small declared files and one large one: slow to store file by file. */
async function manyFilesArchive(count: number): Promise<Uint8Array> {
  const files: Record<string, string | Uint8Array> = {};
  const entries = [];
  for (let i = 0; i < count; i++) {
    const path = `templates/f${i}.ts`;
    files[path] = `export const n = ${i};\n`;
    entries.push({ path, target: `src/f${i}.ts`, type: "registry:lib" });
  }
  const big = new Uint8Array(9 * MIB);
  for (let at = 0; at < big.byteLength; at += 65536) {
    crypto.getRandomValues(big.subarray(at, at + 65536));
  }
  files["templates/big.bin"] = big;
  entries.push({ path: "templates/big.bin", target: "assets/big.bin", type: "registry:asset" });
  const item = makeItem({ name: "big", type: "registry:build", files: entries });
  return await makeTarball({ "registry.json": JSON.stringify(item), ...files });
}

Deno.test("a server SIGKILLed mid-upload leaves no visible version; gc removes the orphans and aborts the multipart upload", async () => {
  const s3 = await startMoto(["registry"]);
  const tmp = await Deno.makeTempDir({ prefix: "s3crash_" });
  const env = {
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  };
  const flags = [
    `--storage=kv:${tmp}/registry.kv`,
    "--bundles=s3:registry",
    `--auth-config=${tmp}/auth.json`,
    `--admin-token=${ADMIN}`,
    "--log-requests=false",
    "--rate-limit=0",
    "--upload-rate-limit=0",
    "--token-upload-rate-limit=0",
    "--read-cache-ms=0",
  ];
  const bucket = await S3BundleStorage.open({
    bucket: "registry",
    endpoint: s3.endpoint,
    accessKeyId: "test",
    secretAccessKey: "test",
  });
  try {
    await Deno.writeTextFile(`${tmp}/auth.json`, JSON.stringify({ "@rack": [] }));
    const archiveY = await manyFilesArchive(3000);
    const server = await startServer(flags, { env });
    const upload = (body: BodyInit, contentType: string) =>
      fetch(`${server.url}/registries`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": contentType },
        body,
        duplex: "half",
      } as RequestInit).then((r) => r.status, () => "cut off");
    // X: 20 MiB of a file part, then nothing: a multipart upload with parts, never completed.
    const x = upload(stallingUpload(20 * MIB), "multipart/form-data; boundary=crash-boundary-x");
    await eventually(
      "X's multipart upload has parts in the bucket",
      async () => (await uploadsInProgress(s3.endpoint)).some((u) => u.parts >= 1),
    );
    // Y: a complete archive; killed while its files are being stored.
    const form = new FormData();
    form.append(
      "file",
      new File([archiveY as BlobPart], "big.tar.gz", { type: "application/gzip" }),
    );
    form.append("checksum", sha256Hex(archiveY));
    const y = fetch(`${server.url}/registries`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
      body: form,
    }).then((r) => r.status, () => "cut off");
    await eventually("Y's archive and first files are stored", async () => {
      const blobs = await bucketKeys(bucket, "blobs/");
      return blobs.includes(`blobs/${sha256Hex(archiveY)}`) && blobs.length >= 4;
    });
    await server.kill();
    assert.deepEqual(await Promise.all([x, y]), ["cut off", "cut off"]);

    const orphans = await bucketKeys(bucket, "blobs/");
    const inProgress = await uploadsInProgress(s3.endpoint);
    assert.ok(orphans.length >= 4, `orphan blobs left: ${orphans.length}`);
    assert.equal(inProgress.length, 1, "X's multipart upload is left in progress");

    // No visible version, on a fresh server over the same store and bucket.
    {
      await using again = await startServer(flags, { env });
      for (
        const path of ["/registries/@rack/build/big/versions", "/registries/@rack/build/big/1.0.0"]
      ) {
        const res = await fetch(`${again.url}${path}`);
        assert.equal(res.status, 404, path);
        await res.body?.cancel();
      }
    }

    // The killed publishes' holds keep their blobs for an hour (HOLD_MS), as for any publish that
    // might still be running; age them instead of waiting.
    {
      const kv = await openKvRetrying(`${tmp}/registry.kv`);
      const rows = new KvRegistryStorage(kv);
      const held = await rows.list<BlobHoldRow>(keys.blobHoldsPrefix());
      assert.ok(held.items.length >= 1, "the killed uploads held their blobs");
      for (const e of held.items) {
        const until = new Date(Date.now() - 1000).toISOString();
        await rows.commit({
          checks: [],
          mutations: [{ type: "set", key: e.key, value: { ...e.value, until } }],
        });
      }
      kv.close();
    }
    const gc = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        fileURLToPath(new URL("../main.ts", import.meta.url)),
        "gc",
        "--grace=0s",
        "--json",
        ...flags.slice(0, 2),
      ],
      env,
    }).output();
    assert.equal(gc.code, 0, new TextDecoder().decode(gc.stderr));
    const report = JSON.parse(new TextDecoder().decode(gc.stdout));
    assert.equal(report.orphans.length, orphans.length);
    assert.ok(report.uploadsSwept >= 1, JSON.stringify(report));
    assert.deepEqual(await bucketKeys(bucket, "blobs/"), [], "every orphan blob removed");
    assert.deepEqual(await uploadsInProgress(s3.endpoint), [], "the multipart upload aborted");
    assert.deepEqual(await bucketKeys(bucket, "uploads/"), []);
  } finally {
    await bucket.close();
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
