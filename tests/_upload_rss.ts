// A real main.ts with its bundles in an S3 bucket (s3rver, in the caller's
// process), big incompressible Rack archives, and the server's memory from
// /proc: shared by tests/e2e_s3_upload_rss_test.ts and bench/s3_upload_rss.ts.
import { incrementalHash } from "../base/digest.ts";
import { curlRackUpload, makeItem } from "./_rack_fixtures.ts";
import { type RunningS3, S3RVER_KEY, startS3rver } from "./_s3rver.ts";
import { type RunningServer, startServer } from "./_server.ts";

const MIB = 1024 * 1024;
const ADMIN = "rss-admin-tok";

/** A packed Rack version: the archive's path, size, and its files' digests. */
export interface PackedVersion {
  version: string;
  archive: string;
  size: number;
  digests: Map<string, string>;
}

/** One measured upload. */
export interface MeasuredUpload {
  /** HTTP status and body of the answer. */
  status: string;
  body: string;
  /** Seconds to the answer. */
  seconds: number;
  /** Server RSS before, MiB. */
  before: number;
  /** Server peak RSS during the upload (VmHWM, reset before it), MiB. */
  peak: number;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
}

/** VmRSS and VmHWM of a process, in MiB. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** A Rack version of `files` random files of `mib` MiB, packed with tar and gzip -1 in `dir`. */
export async function packVersion(
  dir: string,
  version: string,
  options: { files: number; mib: number },
): Promise<PackedVersion> {
  const root = `${dir}/v${version}`;
  await Deno.mkdir(`${root}/templates`, { recursive: true });
  const entries = [];
  const digests = new Map<string, string>();
  const piece = new Uint8Array(MIB);
  for (let i = 0; i < options.files; i++) {
    const path = `templates/big${i}.bin`;
    using file = await Deno.open(`${root}/${path}`, { write: true, create: true });
    const hash = incrementalHash();
    for (let m = 0; m < options.mib; m++) {
      for (let at = 0; at < MIB; at += 65536) {
        crypto.getRandomValues(piece.subarray(at, at + 65536));
      }
      hash.update(piece);
      await file.write(piece);
    }
    digests.set(path, hash.hex());
    entries.push({ path, target: `big${i}.bin`, type: "registry:asset" });
  }
  const item = makeItem({ version, files: entries });
  await Deno.writeTextFile(`${root}/registry.json`, JSON.stringify(item, null, 2));
  const archive = `${dir}/v${version}.tar.gz`;
  await run("tar", ["-I", "gzip -1", "-cf", archive, "-C", root, "."]);
  await Deno.remove(root, { recursive: true });
  return { version, archive, size: (await Deno.stat(archive)).size, digests };
}

/** A bucket and a server over it, with its Rack auth file in `dir`. */
export async function startS3Server(
  dir: string,
  maxUploadMib: number,
): Promise<{ s3: RunningS3; server: RunningServer }> {
  const s3 = await startS3rver(["registry"]);
  await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ "@rack": [] }));
  try {
    const server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      "--bundles=s3:registry/b",
      `--admin-token=${ADMIN}`,
      `--auth-config=${dir}/auth.json`,
      `--max-upload-bytes=${maxUploadMib * MIB}`,
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
    return { s3, server };
  } catch (err) {
    await s3.close();
    throw err;
  }
}

/**
 * Upload an archive with curl -F (its checksum hashed from the file first),
 * the server's peak RSS reset just before (through /proc/<pid>/clear_refs).
 */
export async function measuredUpload(
  server: RunningServer,
  packed: PackedVersion,
): Promise<MeasuredUpload> {
  const hash = incrementalHash();
  for await (const chunk of (await Deno.open(packed.archive)).readable) hash.update(chunk);
  await Deno.writeTextFile(`/proc/${server.pid}/clear_refs`, "5");
  const before = await memoryOf(server.pid);
  const started = performance.now();
  const answer = await curlRackUpload(server.url, ADMIN, packed.archive, hash.hex());
  const seconds = (performance.now() - started) / 1000;
  const after = await memoryOf(server.pid);
  return { ...answer, seconds, before: before.rss, peak: after.peak };
}
