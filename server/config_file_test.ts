import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { KNOWN_FLAGS, parseServerArgs } from "./config.ts";
import { CONFIG_KEYS, loadConfigFile, stripJsonc } from "./config_file.ts";
import { DATA_FORMAT_VERSION, VERSION } from "../core/version.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

async function withFile(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "registry_config_" });
  try {
    await Deno.writeTextFile(`${dir}/registry.jsonc`, text);
    await fn(`${dir}/registry.jsonc`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the config schema has a key for every server flag", () => {
  const flags = KNOWN_FLAGS.filter((f) => f !== "help" && f !== "config").sort();
  assert.deepEqual([...CONFIG_KEYS].sort(), flags);
});

Deno.test("precedence is flag > environment > config file > default", () => {
  const file = { port: "1111", host: "10.0.0.1", "rate-limit": "5", "log-level": "warn" };
  const r = parseServerArgs(["--port=3333"], { PORT: "2222", HOST: "10.0.0.2" }, { file });
  assert.ok(r.ok);
  assert.equal(r.config.port, 3333, "flag");
  assert.equal(r.config.host, "10.0.0.2", "environment");
  assert.equal(r.config.rateLimit, 5, "file");
  assert.equal(r.config.logLevel, "warn", "file");
  assert.equal(r.config.readCacheMs, 500, "default");
});

Deno.test("loadConfigFile() reads JSONC and refuses unknown keys, wrong types and bad JSON with where", async () => {
  await withFile(
    '{\n  // the port\n  "port": 8080, /* blobs */ "bundle-host": "https://cdn.example",\n  "reserved-scopes": ["acme", "x"],\n  "blueprint-probe": true,\n}\n',
    async (path) => {
      assert.deepEqual(await loadConfigFile(path), {
        port: "8080",
        "bundle-host": "https://cdn.example",
        "reserved-scopes": "acme,x",
        "blueprint-probe": "true",
      });
    },
  );
  await withFile('{"prot": 8080}', async (path) => {
    await assert.rejects(loadConfigFile(path), {
      message: `${path}: unknown key "prot" (did you mean "port"?)`,
    });
  });
  await withFile('{"port": "eighty"}', async (path) => {
    await assert.rejects(loadConfigFile(path), {
      message: `${path}: "port" must be a whole number`,
    });
  });
  await withFile('{"log-format": "xml"}', async (path) => {
    await assert.rejects(loadConfigFile(path), {
      message: `${path}: "log-format" must be one of json, pretty`,
    });
  });
  await withFile('{\n  "port": 1\n  "host": "x"\n}', async (path) => {
    await assert.rejects(loadConfigFile(path), {
      message: `${path}:3:3: invalid JSON: Expected ',' or '}' after property value`,
    });
  });
  assert.equal(stripJsonc('{"a": "// not a comment",}'), '{"a": "// not a comment" }');
});

Deno.test("main.ts config --print shows the merged configuration with secrets masked; --version shows the data format", async () => {
  await withFile('{ "port": 7070, "token": "file-secret", "rate-limit": 9 }', async (path) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        MAIN,
        "config",
        "--print",
        `--config=${path}`,
        "--storage=memory",
      ],
      env: { RATE_LIMIT: "12", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const shown = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(shown.port, 7070);
    assert.equal(shown.rateLimit, 12, "the environment wins over the file");
    assert.equal(shown.token, "***");
    assert.doesNotMatch(new TextDecoder().decode(out.stdout), /file-secret/);
  });
  // R2 mode: the bucket's secret (bundles and the Rack mirror) is masked too.
  const r2 = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MAIN, "config", "--print", "--storage=memory"],
    env: {
      STORAGE_BACKEND: "r2",
      R2_BUCKET_NAME: "rack",
      R2_ACCOUNT_ID: "0123abcd",
      R2_ACCESS_KEY_ID: "r2-id",
      R2_SECRET_ACCESS_KEY: "r2-very-secret",
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r2.code, 0, new TextDecoder().decode(r2.stderr));
  const printed = new TextDecoder().decode(r2.stdout);
  assert.doesNotMatch(printed, /r2-very-secret/);
  assert.equal(JSON.parse(printed).rackMirror.secretAccessKey, "***");
  const version = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--version"],
    stdout: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(version.stdout).trim(),
    `@x/registry ${VERSION} (data format ${DATA_FORMAT_VERSION})`,
  );
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, denoJson.version);
});
