// main.ts as an operator meets it first: store paths that do not exist are
// refused (only the default data directory is created implicitly), bad
// configuration files name their path and position, and every failure is one
// line with the right exit code, written before anything touches the disk.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startServer } from "./_server.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

async function run(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; err: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MAIN, ...args, "--host=127.0.0.1"],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim().split("\n").filter(Boolean);
  return { code: out.code, err };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "registry_start_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a KV file in a directory that does not exist is refused in one line, nothing created", async () => {
  await withDir(async (dir) => {
    const r = await run([`--storage=kv:${dir}/nonexistent/x.kv`, "--port=0"]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      `registry-server: The store kv:${dir}/nonexistent/x.kv does not exist: check --storage, or pass --init to create it`,
    ]);
    assert.equal(await exists(`${dir}/nonexistent`), false);
  });
});

Deno.test("an explicit --data-dir, fs store or --bundles=fs: that does not exist is refused; --init creates it", async () => {
  await withDir(async (dir) => {
    const data = await run([`--data-dir=${dir}/data`, "--port=0"]);
    assert.equal(data.code, 1);
    assert.match(
      data.err[0]!,
      /The store kv:.*\/data\/registry\.kv does not exist: check --storage, or pass --init/,
    );
    const fs = await run([`--storage=fs:${dir}/rows`, "--port=0"]);
    assert.equal(fs.code, 1);
    assert.match(fs.err[0]!, /The store fs:.*\/rows does not exist/);
    await using started = await startServer([`--data-dir=${dir}/data`]);
    assert.equal(await exists(`${dir}/data/registry.kv`), true);
    await started.stop();
    const bundles = await run([`--data-dir=${dir}/data`, `--bundles=fs:${dir}/blobs`, "--port=0"]);
    assert.equal(bundles.code, 1);
    assert.deepEqual(bundles.err, [
      `registry-server: The store fs:${dir}/blobs does not exist: check --bundles, or pass --init to create it`,
    ]);
    assert.equal(await exists(`${dir}/blobs`), false);
  });
});

Deno.test("kv: with no file is refused off Deno Deploy with what to write (usage, exit 2)", async () => {
  const r = await run(["--storage=kv:", "--data-dir=/srv/reg", "--port=0"]);
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, [
    "registry-server: --storage=kv: names no file (the default database is Deno Deploy's): write --storage=kv:/srv/reg/registry.kv or omit --storage",
    "Run with --help for usage.",
  ]);
});

Deno.test("a missing or invalid auth.json or webhooks.json stops the start with its path and position", async () => {
  await withDir(async (dir) => {
    const store = [`--storage=kv:${dir}/r.kv`, "--init", "--port=0"];
    const missing = await run([...store, `--auth-config=${dir}/auht.json`]);
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.err, [
      `registry-server: ${dir}/auht.json does not exist (given by --auth-config or AUTH_CONFIG_PATH): check the path`,
    ]);
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      '{\n  "@acme": [\n    { "token": "t", }\n  ]\n}\n',
    );
    const bad = await run([...store, `--auth-config=${dir}/auth.json`]);
    assert.equal(bad.code, 1);
    assert.deepEqual(bad.err, [
      `registry-server: ${dir}/auth.json:3:21: invalid JSON: Expected double-quoted property name`,
    ]);
    await Deno.writeTextFile(`${dir}/hooks.json`, '{"webhooks": [}');
    const hooks = await run([...store, `--webhook-config=${dir}/hooks.json`]);
    assert.equal(hooks.code, 1);
    assert.deepEqual(hooks.err, [
      `registry-server: ${dir}/hooks.json:1:15: invalid JSON: Unexpected token '}'`,
    ]);
    assert.equal(
      await exists(`${dir}/r.kv`),
      false,
      "nothing written before the configuration is good",
    );
  });
});

Deno.test("a port in use names the port and the flag, exits 1 without a usage hint, and writes nothing", async () => {
  await withDir(async (dir) => {
    using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (busy.addr as Deno.NetAddr).port;
    const r = await run([`--port=${port}`], { cwd: dir });
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      `registry-server: Port ${port} on 127.0.0.1 is in use: pass --port=<another port> (or PORT; 0 picks a free one)`,
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no data directory, no admin token");
  });
});

Deno.test("an unreadable data directory is named in the error", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/locked`);
    await Deno.writeTextFile(`${dir}/locked/registry.kv`, "");
    await Deno.chmod(`${dir}/locked`, 0o000);
    try {
      // Root reads anything: check that the directory really is closed to us first.
      const closed = await Deno.readDir(`${dir}/locked`)[Symbol.asyncIterator]().next()
        .then(() => false, (err) => err instanceof Deno.errors.PermissionDenied);
      assert.ok(closed || Deno.uid() === 0);
      if (!closed) return;
      const r = await run([`--data-dir=${dir}/locked`, "--port=0"]);
      assert.equal(r.code, 1);
      assert.deepEqual(r.err, [
        `registry-server: Could not read '${dir}/locked/registry.kv': permission denied`,
      ]);
    } finally {
      await Deno.chmod(`${dir}/locked`, 0o755);
    }
  });
});

Deno.test("an unknown flag or command gets a did-you-mean and exit 2", async () => {
  const flag = await run(["--prot=8080"]);
  assert.equal(flag.code, 2);
  assert.deepEqual(flag.err, [
    "registry-server: Unknown option '--prot' (did you mean --port?)",
    "Run with --help for usage.",
  ]);
  const command = await run(["frobnicate"]);
  assert.equal(command.code, 2);
  assert.match(
    command.err[0]!,
    /^registry-server: Unknown command 'frobnicate'; commands: token, gc, export, import/,
  );
  const near = await run(["exprot"]);
  assert.match(near.err[0]!, /Unknown command 'exprot' \(did you mean export\?\)/);
});
