// Migration throughput: generate a Rack STORAGE_ROOT of N versions (10 per
// package; registry.json, a 16 KiB template and a small undeclared file each),
// run `main.ts migrate rack` on it as a child process into a fresh KV + fs
// store, and report versions/s, MB/s and the child's peak RSS (VmHWM, polled
// from /proc every 100 ms, with the largest anonymous and file-backed parts
// seen). Run at several sizes to see that peak RSS does not grow with N.
//
//   deno run -A bench/migrate_bench.ts [--versions=1000,10000]
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const USAGE = "usage: deno run -A bench/migrate_bench.ts [--versions=1000,10000]";
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: { versions: { type: "string", default: "1000,10000" } },
    });
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : err}\n${USAGE}`);
    Deno.exit(2);
  }
})();
const sizes = values.versions.split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error(`--versions takes positive integers\n${USAGE}`);
  Deno.exit(2);
}

const template = "x".repeat(16 * 1024);

async function generate(root: string, count: number): Promise<number> {
  let bytes = 0;
  await Deno.writeTextFile(`${root}/.healthcheck`, "ok");
  for (let i = 0; i < count; i++) {
    const name = `pkg-${Math.floor(i / 10)}`;
    const version = `1.${i % 10}.0`;
    const dir = `${root}/@gen/quality/${name}/${version}`;
    await Deno.mkdir(`${dir}/templates`, { recursive: true });
    const item = JSON.stringify(
      {
        name,
        namespace: "@gen",
        version,
        type: "registry:quality",
        files: [{ path: "./templates/a.txt", target: "a.txt" }],
      },
      null,
      2,
    );
    const file = `${i}\n${template}`;
    await Deno.writeTextFile(`${dir}/registry.json`, item);
    await Deno.writeTextFile(`${dir}/templates/a.txt`, file);
    await Deno.writeTextFile(`${dir}/smoke.json`, `{"i":${i}}`);
    bytes += item.length + file.length + `{"i":${i}}`.length;
  }
  return bytes;
}

/** The child's memory now: peak RSS so far (VmHWM) and its anonymous and file-backed parts. */
async function memory(pid: number): Promise<{ hwm: number; anon: number; file: number }> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return { hwm: kib("VmHWM"), anon: kib("RssAnon"), file: kib("RssFile") + kib("RssShmem") };
  } catch {
    return { hwm: 0, anon: 0, file: 0 };
  }
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(0);

for (const count of sizes) {
  const dir = await Deno.makeTempDir({ prefix: "migrate-bench-" });
  try {
    await Deno.mkdir(`${dir}/src`);
    const bytes = await generate(`${dir}/src`, count);
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        MAIN,
        "migrate",
        "rack",
        `${dir}/src`,
        `--storage=kv:${dir}/r.kv`,
        `--bundles=fs:${dir}/b`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const peak = { hwm: 0, anon: 0, file: 0 };
    const poll = setInterval(async () => {
      const m = await memory(child.pid);
      peak.hwm = Math.max(peak.hwm, m.hwm);
      peak.anon = Math.max(peak.anon, m.anon);
      peak.file = Math.max(peak.file, m.file);
    }, 100);
    const status = await child.status;
    clearInterval(poll);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${count} versions, ${(bytes / 1e6).toFixed(1)} MB: exit ${status.code}, ${
        seconds.toFixed(1)
      } s, ` +
        `${(count / seconds).toFixed(0)} versions/s, ${(bytes / 1e6 / seconds).toFixed(2)} MB/s, ` +
        `peak RSS ${mib(peak.hwm)} MiB (anonymous ${mib(peak.anon)}, file-backed ${
          mib(peak.file)
        })`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
