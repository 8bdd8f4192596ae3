// `main.ts migrate rack` over the original's STORAGE_ROOT fixture: the server
// then answers the original's reads; corrupted copies are refused version by
// version; a migration killed (SIGKILL) and restarted ends as an
// uninterrupted one, row for row and blob for blob.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startServer } from "./_server.ts";
import { InstallError, rackInstall } from "./_stock_clients.ts";
import { copyFixture, counts, migrate, ORIGINALS, snapshot, targets } from "./_migrate_helpers.ts";

const SRC = `${ORIGINALS}/rack-storage-root`;
const AUTH = `${ORIGINALS}/rack-auth.json`;
const HOOKS = `${ORIGINALS}/rack-webhooks.json`;
const READ = "acme-read-tok-A7";
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

function storeFlags(dir: string): string[] {
  return [`--storage=kv:${dir}/r.kv`, `--bundles=fs:${dir}/b`];
}

async function tempDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "migrate-rack-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("migrate rack: the server then answers the original's reads (versions, latest, files, presets, schemas, namespaces)", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("rack-storage-root", tmp.path);
  // The original ships no preset upload route and its schemas with the server: add both, as a deployment has them.
  const preset = JSON.stringify({ name: "starter", registries: ["@rack/quality/husky"] }, null, 2) +
    "\n";
  await Deno.mkdir(`${src}/presets/starter`, { recursive: true });
  await Deno.writeTextFile(`${src}/presets/starter/preset.json`, preset);
  await Deno.mkdir(`${src}/schema`);
  await Deno.writeTextFile(`${src}/schema/rack.json`, '{"type":"object"}\n');
  const run = await migrate([
    "rack",
    src,
    `--auth-config=${AUTH}`,
    `--webhook-config=${HOOKS}`,
    ...storeFlags(tmp.path),
  ]);
  assert.equal(run.code, 0, run.err);
  assert.equal(targets(run.err, "imported").filter((t) => !t.startsWith("preset:")).length, 13);
  assert.equal(counts(run.report).imported, 14);
  await using server = await startServer([
    ...storeFlags(tmp.path),
    `--auth-config=${AUTH}`,
    `--schema-dir=${src}/schema`,
    "--admin-token=rack-admin-tok-A7",
  ]);
  const get = (path: string, token?: string) =>
    fetch(`${server.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = async (path: string, token?: string) => {
    const res = await get(path, token);
    return { status: res.status, body: await res.text() };
  };
  // What the original answered (fixtures/originals/rack-README.md).
  assert.deepEqual(await (await get("/namespaces")).json(), { namespaces: ["@rack"] });
  assert.deepEqual(await (await get("/namespaces", READ)).json(), {
    namespaces: ["@acme", "@rack"],
  });
  assert.deepEqual(await (await get("/registries/@rack/quality/husky/versions")).json(), {
    versions: ["1.1.0", "1.1.0-beta.1", "1.0.0"],
  });
  const latest = await text("/registries/@rack/quality/husky");
  assert.equal(latest.status, 200);
  assert.equal(
    latest.body,
    await Deno.readTextFile(`${SRC}/@rack/quality/husky/1.1.0/registry.json`),
  );
  const gated = await get("/registries/@acme/features/auth-kit/versions");
  assert.equal(gated.status, 401);
  assert.equal((await gated.json()).code, "UNAUTHORIZED");
  assert.equal((await text("/registries/@acme/features/auth-kit/versions", READ)).status, 200);
  // Every version's registry.json and every file, byte for byte.
  for (
    const pkg of [
      "@rack/quality/husky",
      "@rack/runtimes/node",
      "@rack/build/typescript",
      "@acme/features/auth-kit",
      "@acme/frameworks/vue/router",
    ]
  ) {
    const token = pkg.startsWith("@acme") ? READ : undefined;
    const { versions } = JSON.parse(await Deno.readTextFile(`${SRC}/${pkg}/versions.json`));
    assert.deepEqual(await (await get(`/registries/${pkg}/versions`, token)).json(), { versions });
    for (const version of versions as string[]) {
      const dir = `${SRC}/${pkg}/${version}`;
      const reg = await text(`/registries/${pkg}/${version}`, token);
      assert.equal(reg.body, await Deno.readTextFile(`${dir}/registry.json`), `${pkg}@${version}`);
      for (const file of await filesUnder(dir)) {
        if (file === "registry.json") continue;
        const res = await get(`/registries/${pkg}/${version}/files/${file}`, token);
        assert.equal(res.status, 200, `${pkg}@${version} ${file}`);
        assert.deepEqual(
          new Uint8Array(await res.arrayBuffer()),
          await Deno.readFile(`${dir}/${file}`),
        );
      }
    }
  }
  // rk's install path over the real port: the unversioned item (latest), then
  // each declared file from the version it names, byte for byte (rk itself
  // checks no digest on reads: the checksum is the upload's, recomputed here).
  for (const [pkg, token] of [["@rack/quality/husky"], ["@acme/features/auth-kit", READ]]) {
    const { item, files } = await rackInstall(server.url, { id: pkg! }, { token });
    const { versions } = JSON.parse(await Deno.readTextFile(`${SRC}/${pkg}/versions.json`));
    assert.equal(item.version, versions[0]);
    assert.ok(files.size > 0, pkg);
    for (const [path, bytes] of files) {
      assert.deepEqual(bytes, await Deno.readFile(`${SRC}/${pkg}/${item.version}/${path}`), path);
    }
  }
  await assert.rejects(rackInstall(server.url, { id: "@acme/features/auth-kit" }), InstallError);
  assert.equal((await text("/presets/starter")).body, preset);
  assert.equal((await text("/schemas/rack.json")).body, '{"type":"object"}\n');
  // A second run: everything identical, exit 0.
  await server.stop();
  const again = await migrate(["rack", src, `--auth-config=${AUTH}`, ...storeFlags(tmp.path)]);
  assert.equal(again.code, 0, again.err);
  assert.equal(counts(again.report).imported, 0);
  assert.equal(counts(again.report).identical, 14);
});

Deno.test("migrate rack: a preset without a version (as the original's own) is imported and served byte for byte", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("rack-storage-root", tmp.path);
  // As the original ships its presets: no version, its own indentation, no final newline.
  const text = JSON.stringify(
    {
      $schema: "https://registry.rackjs.com/schemas/preset.json",
      name: "web-starter",
      description: "Husky and TypeScript — the usual start",
      registries: ["@rack/quality/husky", "@rack/build/typescript"],
    },
    null,
    4,
  );
  await Deno.mkdir(`${src}/presets/web-starter`, { recursive: true });
  await Deno.writeTextFile(`${src}/presets/web-starter/preset.json`, text);
  const run = await migrate(["rack", src, ...storeFlags(tmp.path)]);
  assert.equal(run.code, 0, run.err);
  assert.deepEqual(targets(run.err, "imported").filter((t) => t.startsWith("preset:")), [
    "preset:web-starter",
  ]);
  await using server = await startServer(storeFlags(tmp.path));
  const res = await fetch(`${server.url}/presets/web-starter`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.text();
  assert.equal(body, text);
  // What rk reads from it: a registries array.
  assert.deepEqual(JSON.parse(body).registries, ["@rack/quality/husky", "@rack/build/typescript"]);
  const etag = res.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${server.url}/presets/web-starter`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(again.status, 304);
  await again.body?.cancel();
  const head = await fetch(`${server.url}/presets/web-starter`, { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), String(new TextEncoder().encode(text).length));
  await server.stop();
  // A second run finds it identical.
  const second = await migrate(["rack", src, ...storeFlags(tmp.path)]);
  assert.equal(second.code, 0, second.err);
  assert.ok(targets(second.err, "identical").includes("preset:web-starter"), second.err);
});

async function filesUnder(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await filesUnder(dir, path));
    else out.push(path);
  }
  return out;
}

Deno.test("migrate rack: corrupted versions are named by path, left out, and everything else imported", async () => {
  await using tmp = await tempDir();
  const src = await copyFixture("rack-storage-root", tmp.path);
  // `../` in a declared path.
  const husky = `${src}/@rack/quality/husky/1.0.0/registry.json`;
  const item = JSON.parse(await Deno.readTextFile(husky));
  item.files[0].path = "../../../../etc/passwd";
  await Deno.writeTextFile(husky, JSON.stringify(item, null, 2));
  // A symlink in a version directory.
  await Deno.symlink("/etc/passwd", `${src}/@rack/runtimes/node/1.0.0/templates/passwd`);
  // A file over the 64 MiB file limit (sparse).
  await Deno.truncate(
    `${src}/@rack/build/typescript/1.0.0/templates/tsconfig.json`,
    64 * 1024 * 1024 + 1,
  );
  // registry.json that does not parse.
  await Deno.writeTextFile(`${src}/@acme/frameworks/vue/router/1.0.0/registry.json`, '{"name":');
  // A stale versions.json (lists a version that has no folder).
  await Deno.writeTextFile(
    `${src}/@rack/quality/husky/versions.json`,
    JSON.stringify({ versions: ["9.9.9", "1.1.0", "1.1.0-beta.1", "1.0.0"] }),
  );
  const named = [
    "@rack/quality/husky/1.0.0/registry.json: declares an unsafe file path",
    "@rack/runtimes/node/1.0.0/templates/passwd: is a symlink",
    "@rack/build/typescript/1.0.0/templates/tsconfig.json: is 67108865 bytes, over the 67108864-byte file limit",
    "@acme/frameworks/vue/router/1.0.0/registry.json: is not valid JSON",
  ];
  const dry = await migrate([
    "rack",
    src,
    "--dry-run",
    `--auth-config=${AUTH}`,
    ...storeFlags(tmp.path),
  ]);
  const real = await migrate(["rack", src, `--auth-config=${AUTH}`, ...storeFlags(tmp.path)]);
  for (const run of [dry, real]) {
    assert.equal(run.code, 1);
    for (const line of named) assert.ok(run.err.includes(line), `${line}\n${run.err}`);
    assert.equal(counts(run.report).imported, 9);
    assert.equal(targets(run.err, "imported").length, 9);
    assert.ok(JSON.stringify(run.report.notes).includes("listed without a folder: 9.9.9"));
  }
  await using server = await startServer([...storeFlags(tmp.path), `--auth-config=${AUTH}`]);
  // The version list is what was imported, never the stale versions.json.
  assert.deepEqual(
    await (await fetch(`${server.url}/registries/@rack/quality/husky/versions`)).json(),
    { versions: ["1.1.0", "1.1.0-beta.1"] },
  );
  const res = await fetch(`${server.url}/registries/@rack/runtimes/node/1.0.0`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  await server.stop();
});

Deno.test("migrate rack: --tokens=import makes each auth.json token a stored token with a new secret and the same grants", async () => {
  await using tmp = await tempDir();
  const args = ["rack", SRC, `--auth-config=${AUTH}`, "--tokens=import", ...storeFlags(tmp.path)];
  const run = await migrate(args);
  assert.equal(run.code, 0, run.err);
  const tokens = run.report.tokens as { label: string; secret: string }[];
  assert.equal(tokens.length, 2);
  const reader = tokens.find((t) => t.label.startsWith("CI read-only"))!;
  await using server = await startServer(storeFlags(tmp.path));
  const versions = (token?: string) =>
    fetch(`${server.url}/registries/@acme/features/auth-kit/versions`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const res = await versions(reader.secret);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { versions: ["0.2.0", "0.2.0-rc.1", "0.1.0"] });
  for (const token of [undefined, READ]) {
    const refused = await versions(token);
    assert.notEqual(refused.status, 200);
    await refused.body?.cancel();
  }
  await server.stop();
  // A re-run finds the tokens and creates none.
  const again = await migrate(args);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(again.report.tokens, []);
});

/** A generated STORAGE_ROOT of `count` versions (10 per package, 3 files each). */
async function generate(root: string, count: number): Promise<void> {
  await Deno.writeTextFile(`${root}/.healthcheck`, "ok");
  for (let i = 0; i < count; i++) {
    const name = `pkg-${Math.floor(i / 10)}`;
    const version = `1.${i % 10}.0`;
    const dir = `${root}/@gen/quality/${name}/${version}`;
    await Deno.mkdir(`${dir}/templates`, { recursive: true });
    const item = {
      name,
      namespace: "@gen",
      version,
      type: "registry:quality",
      description: `generated ${i}`,
      files: [{ path: "./templates/a.txt", target: "a.txt" }],
    };
    await Deno.writeTextFile(`${dir}/registry.json`, JSON.stringify(item, null, 2));
    await Deno.writeTextFile(`${dir}/templates/a.txt`, `file ${i}\n`.repeat(20));
    await Deno.writeTextFile(`${dir}/smoke.json`, `{"i":${i}}`);
  }
}

/** Run `main.ts migrate rack` as a child; SIGKILL it after `after` versions were handled. */
async function runChild(root: string, dir: string, after?: number): Promise<number | "killed"> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MAIN, "migrate", "rack", root, ...storeFlags(dir)],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let seen = 0;
  let killed = false;
  let rest = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    // Each version prints one line, imported or (after a restart) identical.
    seen += lines.filter((l) => /^migrate: (imported|identical) /.test(l)).length;
    if (after !== undefined && !killed && seen >= after) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  const status = await child.status;
  return killed ? "killed" : status.code;
}

Deno.test("migrate rack: killed with SIGKILL at several points and restarted, the end state equals an uninterrupted run", async () => {
  await using tmp = await tempDir();
  const root = `${tmp.path}/src`;
  await Deno.mkdir(root);
  await generate(root, 1000);
  await Deno.mkdir(`${tmp.path}/whole`);
  await Deno.mkdir(`${tmp.path}/killed`);
  assert.equal(await runChild(root, `${tmp.path}/whole`), 0);
  for (const at of [1, 250, 600, 900]) {
    assert.equal(await runChild(root, `${tmp.path}/killed`, at), "killed");
  }
  assert.equal(await runChild(root, `${tmp.path}/killed`), 0);
  const whole = await snapshot(`${tmp.path}/whole/r.kv`, `${tmp.path}/whole/b`);
  const resumed = await snapshot(`${tmp.path}/killed/r.kv`, `${tmp.path}/killed/b`);
  assert.equal(whole.split("\n").filter((l) => l.includes('"rack.migrate"')).length, 1000);
  assert.equal(resumed, whole);
});
