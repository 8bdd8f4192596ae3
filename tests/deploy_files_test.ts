// The deployment files in deploy/ (docs/deployment.md) are checked here: their
// flags parse, they agree with each other (port, proxy trust, TLS, forwarded
// headers), the image copies what serving needs and nothing else, and the
// backup script's export restores into a new store. No container runtime on
// this machine: the image's contents are checked, not its build.
import assert from "node:assert/strict";
import { parseServerArgs } from "../server/config.ts";
import { runCli } from "../server/cli.ts";

const read = (name: string) => Deno.readTextFile(new URL(`../deploy/${name}`, import.meta.url));
const root = new URL("../", import.meta.url);

function mainArgs(line: string): string[] {
  return line.trim().split(/\s+/).slice(
    line.trim().split(/\s+/).findIndex((w) => w.endsWith("main.ts")) + 1,
  );
}

Deno.test("the systemd unit's command line parses, binds to loopback behind one proxy, and does not restart on start-up errors", async () => {
  const unit = await read("registry.service");
  const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!;
  const args = mainArgs(exec).filter((a) => !a.startsWith("--config="));
  const r = parseServerArgs(args, {});
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.config.host, "127.0.0.1");
  assert.equal(r.config.port, 9001);
  assert.equal(r.config.trustProxy, 1);
  assert.equal(r.config.dataDir, "/var/lib/registry");
  assert.match(unit, /^StateDirectory=registry$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, /^RestartPreventExitStatus=1 2$/m);
  assert.match(unit, /^User=registry$/m);
});

Deno.test("the container image copies what serving needs, runs as deno, and its command parses", async () => {
  const file = await read("Containerfile");
  assert.match(file, /^FROM denoland\/deno:2\.9\.\d+$/m);
  const copied = [...file.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
  for (const path of copied) await Deno.stat(new URL(path, root)); // each exists
  for (
    const needed of [
      "main.ts",
      "deno.json",
      "deno.lock",
      "core/",
      "storage/",
      "routes/",
      "server/",
      "schemas/",
    ]
  ) {
    assert.ok(copied.includes(needed), `copies ${needed}`);
  }
  assert.ok(!copied.some((p) => /^(tests|bench)\//.test(p)), "no tests or benches in the image");
  assert.match(file, /^USER deno$/m);
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(file)![1]!) as string[];
  const r = parseServerArgs(cmd, {});
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.config.init, true);
  assert.equal(r.config.dataDir, "/data");
  assert.match(file, new RegExp(`^EXPOSE ${r.config.port}$`, "m"));
  assert.match(file, /^VOLUME \/data$/m);
  const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(file)![1]!) as string[];
  assert.deepEqual(entry, ["deno", "run", "-A", "--unstable-kv", "main.ts"]);
});

Deno.test("the Caddy and nginx examples terminate TLS and forward Host and scheme to the unit's address", async () => {
  const caddy = await read("Caddyfile");
  const nginx = await read("nginx.conf");
  assert.match(caddy, /reverse_proxy 127\.0\.0\.1:9001/);
  assert.match(caddy, /header_up X-Forwarded-Host \{host\}/);
  assert.match(caddy, /header_up X-Forwarded-Proto \{scheme\}/);
  assert.match(caddy, /^registry\.example\.com \{/m, "a site name: Caddy's automatic HTTPS");
  assert.match(nginx, /listen 443 ssl;/);
  assert.match(nginx, /ssl_certificate\s+\S+fullchain\.pem;/);
  assert.match(nginx, /return 301 https:/);
  assert.match(nginx, /proxy_pass http:\/\/127\.0\.0\.1:9001;/);
  assert.match(nginx, /proxy_set_header X-Forwarded-Host \$host;/);
  assert.match(nginx, /proxy_set_header X-Forwarded-Proto \$scheme;/);
  const body = Number(/client_max_body_size (\d+)m;/.exec(nginx)![1]);
  assert.ok(body * 1048576 >= 104857600, "room for the default --max-upload-bytes");
});

Deno.test("the backup script's export restores into a new store", async () => {
  const script = await read("backup.sh");
  const exportLine = script.split("\n").find((l) => /main\.ts export /.test(l))!;
  const restoreLine = script.split("\n").find((l) => /main\.ts import /.test(l))!;
  const dir = await Deno.makeTempDir({ prefix: "registry_backup_" });
  try {
    await Deno.mkdir(`${dir}/data`);
    const quiet = { out: () => {}, err: () => {} };
    const store = [`--storage=kv:${dir}/data/registry.kv`];
    assert.equal(
      await runCli(["token", "create", "--subject=ci", "--grant=*:read", ...store], {}, quiet),
      0,
    );
    const sub = (a: string) =>
      a.replaceAll('"$FILE"', `${dir}/backup.jsonl`).replaceAll('"$DATA_DIR"', `${dir}/data`)
        .replaceAll("<file>", `${dir}/backup.jsonl`).replace(
          "/var/lib/registry-restored",
          `${dir}/restored`,
        );
    assert.equal(await runCli(mainArgs(exportLine).map(sub), {}, quiet), 0);
    assert.equal(await runCli(mainArgs(restoreLine).map(sub), {}, quiet), 0);
    const out: string[] = [];
    const listed = { out: (l: string) => void out.push(l), err: () => {} };
    assert.equal(
      await runCli(
        ["token", "list", "--json", `--storage=kv:${dir}/restored/registry.kv`],
        {},
        listed,
      ),
      0,
    );
    assert.deepEqual(JSON.parse(out.join("\n")).map((t: { subject: string }) => t.subject), ["ci"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
