// A large Rack upload through a real main.ts whose bundles are in an S3
// bucket (s3rver on loopback, in this test's process, not the server's): the
// server's peak resident memory (VmHWM from /proc) rises far less than the
// upload's size, because nothing holds the body — the archive and each file
// stream to the bucket in 5 MiB parts, one in flight, hashed as they pass.
// The bytes then read back over HTTP hash to exactly what was sent.
//
// The rise is measured over a server that has already taken one (small,
// multipart) upload: a fresh server's first upload also compiles the upload
// path's code and grows the allocator's arenas once (~+55 MiB, whatever the
// size), which says nothing about the body. What the rise is made of: the
// part in hand and the copy `fetch` makes of it to send it, and spent 64 KiB
// buffers (request pieces, inflated tar bytes, sent parts) that V8 collects
// only once some tens of MiB of them accumulate: that does not grow with the
// upload (measured +44 MiB for 50 MiB, +49 MiB for 150 MiB; docs/bench.md).
// `RSS_FILES=<n>` uploads n files of 50 MiB instead of 3.
//
// s3rver checks no signature (any request with its access key id passes) and
// does not compare x-amz-content-sha256 with the body: this test proves the
// memory and the bytes, not that S3 accepts the requests' signatures (that is
// aws4fetch's to guarantee; parts are sent as UNSIGNED-PAYLOAD, as aws4fetch
// signs S3 requests by default).
import assert from "node:assert/strict";
import { incrementalHash } from "../base/digest.ts";
import { curlRackUpload, makeItem } from "./_rack_fixtures.ts";
import { S3RVER_KEY, startS3rver } from "./_s3rver.ts";
import { startServer } from "./_server.ts";

const MIB = 1024 * 1024;
/** The archive's files: incompressible, so the archive is as large. */
const FILES = Number(Deno.env.get("RSS_FILES") ?? 3);
const FILE_MIB = 50;
/** The most the server's peak may rise above its resident size before the upload. */
const MAX_RISE_MIB = 80;
const ADMIN = "rss-admin-tok";

/** VmRSS and VmHWM of a process, in MiB. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  assert.equal(out.code, 0, `${cmd}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A Rack version folder packed with tar and gzip; answers the archive's path and the files' digests. */
async function packVersion(
  dir: string,
  version: string,
  files: number,
  mib: number,
): Promise<{ archive: string; digests: Map<string, string> }> {
  const root = `${dir}/v${version}`;
  await Deno.mkdir(`${root}/templates`, { recursive: true });
  const entries = [];
  const digests = new Map<string, string>();
  for (let i = 0; i < files; i++) {
    const path = `templates/big${i}.bin`;
    const file = await Deno.open(`${root}/${path}`, { write: true, create: true });
    const hash = incrementalHash();
    const piece = new Uint8Array(MIB);
    for (let m = 0; m < mib; m++) {
      for (let at = 0; at < MIB; at += 65536) {
        crypto.getRandomValues(piece.subarray(at, at + 65536));
      }
      hash.update(piece);
      await file.write(piece);
    }
    file.close();
    digests.set(path, hash.hex());
    entries.push({ path, target: `big${i}.bin`, type: "registry:asset" });
  }
  const item = makeItem({ version, files: entries });
  await Deno.writeTextFile(`${root}/registry.json`, JSON.stringify(item, null, 2));
  const archive = `${dir}/v${version}.tar.gz`;
  await run("tar", ["-I", "gzip -1", "-cf", archive, "-C", root, "."]);
  await Deno.remove(root, { recursive: true });
  return { archive, digests };
}

/** Upload an archive file with curl -F, its checksum hashed from the file as it streams. */
async function curlUpload(url: string, archive: string): Promise<{ status: string; body: string }> {
  const hash = incrementalHash();
  for await (const chunk of (await Deno.open(archive)).readable) hash.update(chunk);
  return await curlRackUpload(url, ADMIN, archive, hash.hex());
}

Deno.test(`a ${FILES * FILE_MIB} MiB Rack upload to S3 bundles raises the server's peak RSS far less than its size, and reads back byte-exact`, async () => {
  const s3 = await startS3rver(["registry"]);
  const tmp = await Deno.makeTempDir({ prefix: "s3_rss_" });
  try {
    await Deno.writeTextFile(`${tmp}/auth.json`, JSON.stringify({ "@rack": [] }));
    const warm = await packVersion(tmp, "1.0.0", 1, 6);
    const big = await packVersion(tmp, "2.0.0", FILES, FILE_MIB);
    await using server = await startServer([
      `--storage=kv:${tmp}/registry.kv`,
      "--bundles=s3:registry/b",
      `--admin-token=${ADMIN}`,
      `--auth-config=${tmp}/auth.json`,
      `--max-upload-bytes=${(FILES * FILE_MIB + 16) * MIB}`,
      "--log-requests=false",
      "--rate-limit=0",
      "--upload-rate-limit=0",
      "--token-upload-rate-limit=0",
      "--metadata-rate-limit=0",
    ], {
      env: {
        S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
      },
    });
    // A first, small multipart upload loads the upload path's code: the
    // figure below is the upload's memory, not the modules'.
    const warmed = await curlUpload(server.url, warm.archive);
    assert.equal(warmed.status, "201", warmed.body);
    const before = await memoryOf(server.pid);
    const size = (await Deno.stat(big.archive)).size;
    const answer = await curlUpload(server.url, big.archive);
    assert.equal(answer.status, "201", answer.body);
    const after = await memoryOf(server.pid);
    const rise = after.peak - before.rss;
    console.log(
      `${(size / MIB).toFixed(1)} MiB archive: server RSS ${before.rss.toFixed(0)} MiB before, ` +
        `peak ${after.peak.toFixed(0)} MiB (+${rise.toFixed(0)} MiB)`,
    );
    for (const [path, sha256] of big.digests) {
      const res = await fetch(`${server.url}/registries/@rack/quality/husky/2.0.0/files/${path}`);
      assert.equal(res.status, 200, path);
      const hash = incrementalHash();
      for await (const chunk of res.body!) hash.update(chunk);
      assert.equal(hash.hex(), sha256, `${path} reads back byte-exact`);
    }
    assert.ok(
      rise < MAX_RISE_MIB,
      `peak RSS rose ${rise.toFixed(0)} MiB for a ${(size / MIB).toFixed(0)} MiB upload ` +
        `(at most ${MAX_RISE_MIB} MiB)`,
    );
  } finally {
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
