// The JSR upstream's cost with the real client: `deno cache` of a project
// importing 20 packages (5 modules each) from a public upstream (a second
// main.ts on 127.0.0.1, KV file, public JSR), with a fresh DENO_DIR each time:
//
// - direct: JSR_URL is the upstream itself (the reference);
// - cold:   JSR_URL is our registry with an empty cache (every read is a miss:
//           fetched upstream, checked, stored, served);
// - warm:   the same registry again (every version and file from our cache,
//           meta.json fresh).
//
// Each round starts a fresh registry; the figure is the median over rounds.
//
//   deno run -A bench/jsr_upstream_bench.ts [--rounds=3] [--packages=20]
import { parseArgs } from "node:util";
import { startServer } from "../tests/_server.ts";
import { makeTarball } from "../tests/_rack_fixtures.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    packages: { type: "string", default: "20" },
  },
});
const rounds = Number(values.rounds);
const count = Number(values.packages);
const dir = await Deno.makeTempDir({ prefix: "jsr-upstream-bench-" });

function pkgName(i: number): string {
  return `p${String(i).padStart(2, "0")}`;
}

async function publish(url: string, name: string): Promise<void> {
  const files: Record<string, string> = {
    "deno.json": JSON.stringify({ name: `@pub/${name}`, version: "1.0.0", exports: "./mod.ts" }),
    "mod.ts": [1, 2, 3, 4].map((n) => `export * from "./m${n}.ts";`).join("\n") + "\n",
  };
  for (let n = 1; n <= 4; n++) {
    files[`m${n}.ts`] = `export const ${name}_${n} = ${JSON.stringify("x".repeat(2000))};\n`;
  }
  const res = await fetch(
    `${url}/api/scopes/pub/packages/${name}/versions/1.0.0?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: "Bearer tok-up" },
      body: await makeTarball(files) as BodyInit,
    },
  );
  const task = await res.json();
  if (task.status !== "success") throw new Error(`publish ${name}: ${JSON.stringify(task)}`);
}

let dirs = 0;
async function denoCache(jsrUrl: string): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--no-lock", "main.ts"],
    cwd: `${dir}/app`,
    env: { JSR_URL: `${jsrUrl}/`, DENO_DIR: `${dir}/deno-dir-${++dirs}`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return ms;
}

/** The reads `deno cache` makes, sequentially over HTTP: meta.json, version metadata, every module. */
async function reads(url: string): Promise<number> {
  const started = performance.now();
  for (let i = 1; i <= count; i++) {
    const base = `${url}/@pub/${pkgName(i)}`;
    const paths = ["meta.json", "1.0.0_meta.json", "1.0.0/mod.ts"];
    for (let n = 1; n <= 4; n++) paths.push(`1.0.0/m${n}.ts`);
    for (const p of paths) {
      const res = await fetch(`${base}/${p}`);
      if (res.status !== 200) throw new Error(`${base}/${p}: ${res.status}`);
      await res.arrayBuffer();
    }
  }
  return performance.now() - started;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

try {
  await using upstream = await startServer([
    `--storage=kv:${dir}/up.kv`,
    `--data-dir=${dir}/up`,
    "--token=tok-up",
    "--log-requests=false",
    "--jsr-visibility=public",
    "--jsr-upstream=off",
    "--rate-limit=0",
    "--upload-rate-limit=0",
  ]);
  for (let i = 1; i <= count; i++) await publish(upstream.url, pkgName(i));
  await Deno.mkdir(`${dir}/app`);
  const imports: Record<string, string> = {};
  let main = "";
  for (let i = 1; i <= count; i++) {
    imports[`@pub/${pkgName(i)}`] = `jsr:@pub/${pkgName(i)}@^1`;
    main += `import * as m${i} from "@pub/${
      pkgName(i)
    }";\nconsole.log(Object.keys(m${i}).length);\n`;
  }
  await Deno.writeTextFile(`${dir}/app/deno.json`, JSON.stringify({ imports }));
  await Deno.writeTextFile(`${dir}/app/main.ts`, main);

  const direct: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  const http = { direct: [] as number[], cold: [] as number[], warm: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    await using ours = await startServer([
      `--storage=kv:${dir}/ours-${r}.kv`,
      `--data-dir=${dir}/ours-${r}`,
      "--token=tok-ours",
      "--log-requests=false",
      "--rate-limit=0",
      `--jsr-upstream=${upstream.url}/`,
    ]);
    await using second = await startServer([
      `--storage=kv:${dir}/second-${r}.kv`,
      `--data-dir=${dir}/second-${r}`,
      "--token=tok-ours",
      "--log-requests=false",
      "--rate-limit=0",
      `--jsr-upstream=${upstream.url}/`,
    ]);
    direct.push(await denoCache(upstream.url));
    cold.push(await denoCache(ours.url));
    warm.push(await denoCache(ours.url));
    http.direct.push(await reads(upstream.url));
    http.cold.push(await reads(second.url));
    http.warm.push(await reads(second.url));
  }
  const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms`;
  console.log(
    `deno cache of ${count} upstream packages (${count * 5} modules), median of ${rounds}:`,
  );
  console.log(`| path   | time | vs direct |`);
  console.log(`| ------ | ---- | --------- |`);
  console.log(`| direct | ${fmt(direct)} | 1.00 |`);
  console.log(`| cold   | ${fmt(cold)} | ${(median(cold) / median(direct)).toFixed(2)} |`);
  console.log(`| warm   | ${fmt(warm)} | ${(median(warm) / median(direct)).toFixed(2)} |`);
  const n = count * 7;
  console.log(
    `\nThe same ${n} reads over HTTP, one at a time (a fresh registry), median of ${rounds}:`,
  );
  console.log(`| path   | time | per read | vs direct |`);
  console.log(`| ------ | ---- | -------- | --------- |`);
  for (const [k, xs] of Object.entries(http)) {
    const ratio = (median(xs) / median(http.direct)).toFixed(2);
    console.log(`| ${k.padEnd(6)} | ${fmt(xs)} | ${(median(xs) / n).toFixed(2)} ms | ${ratio} |`);
  }
  console.log(
    `runs (ms): direct ${direct.map(Math.round)}, cold ${cold.map(Math.round)}, warm ${
      warm.map(Math.round)
    }`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
