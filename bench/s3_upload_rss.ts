// Rack uploads through a real main.ts whose bundles are in an S3 bucket
// (s3rver on loopback, in this process, not the server's): each upload's time
// and the server's peak RSS over its resident size before it (VmHWM, reset
// through /proc/<pid>/clear_refs before each upload). One small multipart
// upload first loads the upload path's code. Archives are incompressible
// (random files of 50 MiB, or one smaller file), so each is as large as said.
//
//   deno run -A --import-map=tests/import_map.json --lock=tests/deno.lock bench/s3_upload_rss.ts [--sizes=50,150] [--rounds=2]
//
// Results: docs/bench.md, "Upload memory on a warm server".
import { parseArgs } from "node:util";
import { measuredUpload, packVersion, startS3Server } from "../tests/_upload_rss.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "50,150" },
    rounds: { type: "string", default: "2" },
  },
});
const sizes = values.sizes.split(",").map(Number);
const rounds = Number(values.rounds);
const FILE_MIB = 50;

const tmp = await Deno.makeTempDir({ prefix: "s3_upload_rss_" });
const { s3, server } = await startS3Server(tmp, Math.max(...sizes) + 16);
try {
  const warm = await packVersion(tmp, "1.0.0", { files: 1, mib: 6 });
  const packed = [];
  for (const [i, mib] of sizes.entries()) {
    const files = mib >= FILE_MIB ? Math.round(mib / FILE_MIB) : 1;
    packed.push(await packVersion(tmp, `2.0.${i}`, { files, mib: Math.min(mib, FILE_MIB) }));
  }
  const warmed = await measuredUpload(server, warm);
  if (warmed.status !== "201") throw new Error(`warm-up answered ${warmed.status} ${warmed.body}`);
  console.log(
    `load average ${(await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")}`,
  );
  console.log("| round | archive | time to 201 | server RSS before | peak | rise |");
  console.log("| ----- | ------- | ----------- | ----------------- | ---- | ---- |");
  for (let round = 1; round <= rounds; round++) {
    for (const [i, version] of packed.entries()) {
      // Each round publishes new versions: the archives are re-packed under new numbers.
      const upload = round === 1 ? version : await packVersion(tmp, `${2 + round}.0.${i}`, {
        files: version.digests.size,
        mib: Math.min(sizes[i]!, FILE_MIB),
      });
      const up = await measuredUpload(server, upload);
      if (up.status !== "201") throw new Error(`upload answered ${up.status} ${up.body}`);
      console.log(
        `| ${round} | ${(upload.size / 2 ** 20).toFixed(0)} MiB | ${up.seconds.toFixed(2)} s | ` +
          `${up.before.toFixed(0)} MiB | ${up.peak.toFixed(0)} MiB | +${
            (up.peak - up.before).toFixed(0)
          } MiB |`,
      );
      await Deno.remove(upload.archive);
    }
  }
  console.log(
    `load average ${(await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")}`,
  );
} finally {
  await server.kill();
  await s3.close();
  await Deno.remove(tmp, { recursive: true });
}
