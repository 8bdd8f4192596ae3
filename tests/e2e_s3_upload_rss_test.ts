// Large Rack uploads through a real main.ts whose bundles are in an S3 bucket
// (s3rver on loopback, in this test's process, not the server's): the
// server's peak resident memory rises far less than the upload's size, and
// not with it (a 50 MiB and then a 150 MiB upload), because nothing holds the
// body and next to nothing is allocated per byte: the request is read into a
// reused buffer and copied straight into one pooled 5 MiB part buffer, hashed
// there, and each part is written to the bucket from that buffer (no copy by
// `fetch`); the two reads of the stored archive stream through the inflater.
// The bytes then read back over HTTP hash to exactly what was sent.
//
// Each rise is the server's peak (VmHWM, reset through /proc/<pid>/clear_refs
// before the upload) over its resident size before it, on a server that has
// already taken one small multipart upload (which loads the upload path's
// code). Measured +9 MiB (50 MiB) and +17 MiB (150 MiB) at load 13; before
// these changes +44 to +65 and +49 to +71 (docs/bench.md).
//
// s3rver checks no signature and does not compare x-amz-content-sha256 with
// the body: this test proves the memory and the bytes (storage/s3_test.ts
// checks that every PUT declares its payload's true hash).
import assert from "node:assert/strict";
import { incrementalHash } from "../base/digest.ts";
import { measuredUpload, packVersion, startS3Server } from "./_upload_rss.ts";

const MIB = 1024 * 1024;
/** Files of 50 MiB (incompressible, so each archive is as large) in each upload. */
const UPLOADS = [1, 3];
const FILE_MIB = 50;
/** The most the server's peak may rise above its resident size before an upload. */
const MAX_RISE_MIB = 32;

Deno.test("a 50 MiB and a 150 MiB Rack upload to S3 bundles each raise the server's peak RSS far less than their size, and read back byte-exact", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "s3_rss_" });
  const { s3, server } = await startS3Server(tmp, Math.max(...UPLOADS) * FILE_MIB + 16);
  try {
    const warm = await packVersion(tmp, "1.0.0", { files: 1, mib: 6 });
    const bigs = [];
    for (const [i, files] of UPLOADS.entries()) {
      bigs.push(await packVersion(tmp, `2.0.${i}`, { files, mib: FILE_MIB }));
    }
    // A first, small multipart upload loads the upload path's code: the
    // figures below are the uploads' memory, not the modules'.
    const warmed = await measuredUpload(server, warm);
    assert.equal(warmed.status, "201", warmed.body);
    const rises: string[] = [];
    for (const big of bigs) {
      const up = await measuredUpload(server, big);
      assert.equal(up.status, "201", up.body);
      const rise = up.peak - up.before;
      console.log(
        `${(big.size / MIB).toFixed(1)} MiB archive in ${up.seconds.toFixed(1)} s: server RSS ` +
          `${up.before.toFixed(0)} MiB before, peak ${up.peak.toFixed(0)} MiB (+${
            rise.toFixed(0)
          } MiB)`,
      );
      for (const [path, sha256] of big.digests) {
        const res = await fetch(
          `${server.url}/registries/@rack/quality/husky/${big.version}/files/${path}`,
        );
        assert.equal(res.status, 200, path);
        const hash = incrementalHash();
        for await (const chunk of res.body!) hash.update(chunk);
        assert.equal(hash.hex(), sha256, `${path} reads back byte-exact`);
      }
      if (rise >= MAX_RISE_MIB) {
        rises.push(`${rise.toFixed(0)} MiB for a ${(big.size / MIB).toFixed(0)} MiB upload`);
      }
    }
    assert.deepEqual(rises, [], `peak RSS rose by at most ${MAX_RISE_MIB} MiB`);
  } finally {
    await server.kill();
    await s3.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
