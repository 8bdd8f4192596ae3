import assert from "node:assert/strict";
import { parseServerArgs } from "./config.ts";
import { adminTokenPath } from "./open.ts";

function ok(args: string[], env: Record<string, string> = {}) {
  const r = parseServerArgs(args, env);
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.config;
}
function error(args: string[], env: Record<string, string> = {}): string {
  const r = parseServerArgs(args, env);
  assert.ok(!r.ok && !r.help, `expected an error for ${args.join(" ")}`);
  return r.ok || r.help ? "" : r.error;
}

Deno.test("parseServerArgs() defaults to the embedded KV file with blobs beside it", () => {
  const c = ok([]);
  assert.equal(c.port, 9001);
  assert.equal(c.host, "0.0.0.0");
  assert.deepEqual(c.storage, { kind: "kv", path: "./registry-data/registry.kv" });
  assert.deepEqual(c.bundles, { kind: "fs", path: "./registry-data/bundles" });
});

Deno.test("parseServerArgs() takes --flag=value and --flag value alike", () => {
  assert.equal(ok(["--port=0"]).port, 0);
  assert.equal(ok(["--port", "0"]).port, 0);
  assert.deepEqual(ok(["--storage", "fs:/tmp/r"]).storage, { kind: "fs", path: "/tmp/r" });
  assert.deepEqual(ok(["--storage=fs:/tmp/r"]).bundles, { kind: "fs", path: "/tmp/r/bundles" });
});

Deno.test("parseServerArgs() keeps blobs in KV for a remote or default KV", () => {
  assert.deepEqual(ok(["--storage=kv:https://kv.example/db"]).bundles, { kind: "kv" });
  const deploy = { DENO_DEPLOYMENT_ID: "d1" };
  assert.deepEqual(ok(["--storage=kv:"], deploy).storage, { kind: "kv" });
  assert.deepEqual(ok(["--storage=kv:"], deploy).bundles, { kind: "kv" });
});

Deno.test("parseServerArgs() refuses kv: with no file off Deno Deploy, saying what to write", () => {
  assert.equal(
    error(["--storage=kv:", "--data-dir=/srv/reg"]),
    "--storage=kv: names no file (the default database is Deno Deploy's): write --storage=kv:/srv/reg/registry.kv or omit --storage",
  );
});

Deno.test("parseServerArgs() marks only the default data directory as created implicitly", () => {
  assert.equal(ok([]).defaultStore, true);
  assert.equal(ok(["--data-dir=./registry-data"]).defaultStore, undefined);
  assert.equal(ok([], { STORAGE_ROOT: "/srv/reg" }).defaultStore, undefined);
  assert.equal(ok(["--storage=kv:/srv/x.kv"]).defaultStore, undefined);
  assert.equal(ok(["--bundles=fs:/srv/b"]).defaultStore, undefined);
  assert.equal(ok(["--init"]).init, true);
});

Deno.test("parseServerArgs() maps the original environments", () => {
  const c = ok([], {
    GGUI_REGISTRY_TOKEN: "tok",
    PORT: "8080",
    HOST: "127.0.0.1",
    STORAGE_ROOT: "/srv/reg",
    ADMIN_TOKEN: "adm",
    AUTH_CONFIG_PATH: "/etc/auth.json",
    WEBHOOK_CONFIG_PATH: "/etc/hooks.json",
    SCHEMA_DIR: "/schemas",
    TRUST_PROXY: "2",
  });
  assert.equal(c.token, "tok");
  assert.equal(c.port, 8080);
  assert.equal(c.host, "127.0.0.1");
  assert.deepEqual(c.storage, { kind: "kv", path: "/srv/reg/registry.kv" });
  assert.equal(c.adminToken, "adm");
  assert.equal(c.authConfig, "/etc/auth.json");
  assert.equal(c.webhookConfig, "/etc/hooks.json");
  assert.equal(c.schemaDir, "/schemas");
  assert.equal(c.trustProxy, 2);
  assert.equal(ok(["--port=1"], { PORT: "8080" }).port, 1, "flags win over the environment");
});

Deno.test("parseServerArgs() refuses unknown, malformed and positional arguments with one line", () => {
  assert.match(error(["--nope=1"]), /nope/);
  assert.match(error(["--port=abc"]), /--port must be an integer/);
  assert.match(error(["--port=70000"]), /--port must be an integer/);
  assert.match(error(["serve"]), /positional|Unexpected argument/i);
  assert.match(error(["--storage=s3:x"]), /--storage must be/);
  assert.match(error(["--bundle-host=ftp://x"]), /--bundle-host must be/);
  assert.match(error([], { STORAGE_BACKEND: "s3" }), /not supported/);
  // An explicitly empty token is refused (the original's rule); an empty
  // GGUI_REGISTRY_TOKEN counts as unset, as empty environment values do.
  assert.match(error(["--token="]), /--token needs a value \(omit it/);
  assert.match(error(["--token", " "]), /--token needs a value/);
  assert.equal(ok([], { GGUI_REGISTRY_TOKEN: "" }).token, undefined);
  for (const e of [error(["--nope"]), error(["--port=abc"])]) assert.ok(!e.includes("\n"));
});

Deno.test("parseServerArgs() answers help for -h and --help", () => {
  assert.deepEqual(parseServerArgs(["-h"], {}), { ok: false, help: true });
  assert.deepEqual(parseServerArgs(["--help"], {}), { ok: false, help: true });
});

Deno.test("parseServerArgs() strips one trailing slash from the bundle host and prefixes scopes", () => {
  const c = ok(["--bundle-host=http://h:1/", "--reserved-scopes=acme,@corp"]);
  assert.equal(c.bundleHost, "http://h:1");
  assert.deepEqual(c.reservedScopes, ["@acme", "@corp"]);
});

Deno.test("parseServerArgs() reads the operations flags with their defaults", () => {
  const d = ok([]);
  assert.equal(d.rateLimit, 1200);
  assert.equal(d.uploadRateLimit, 60);
  assert.equal(d.authFailureLimit, 30);
  assert.equal(d.readCacheMs, 500);
  assert.equal(d.logRequests, true);
  assert.equal(d.metricsToken, undefined);
  const c = ok(["--rate-limit=0", "--read-cache-ms", "0", "--log-requests=false"], {
    METRICS_TOKEN: "m",
  });
  assert.equal(c.rateLimit, 0);
  assert.equal(c.readCacheMs, 0);
  assert.equal(c.logRequests, false);
  assert.equal(c.metricsToken, "m");
  assert.match(error(["--rate-limit=-1"]), /--rate-limit must be a whole number/);
  assert.match(error(["--log-requests=yes"]), /--log-requests must be true or false/);
});

Deno.test("parseServerArgs() reads the slow-client limits with their defaults, 0 turning each off", () => {
  const d = ok([]);
  assert.equal(d.headerTimeoutMs, 10_000);
  assert.equal(d.bodyTimeoutMs, 30_000);
  assert.equal(d.maxPendingBodies, 64);
  assert.equal(d.maxConnectionsPerAddress, 0);
  const c = ok([
    "--header-timeout-ms=0",
    "--body-timeout-ms=0",
    "--max-pending-bodies=0",
    "--max-connections-per-address=64",
  ]);
  assert.equal(c.headerTimeoutMs, 0);
  assert.equal(c.bodyTimeoutMs, 0);
  assert.equal(c.maxPendingBodies, 0);
  assert.equal(c.maxConnectionsPerAddress, 64);
  assert.match(error(["--header-timeout-ms=1s"]), /--header-timeout-ms must be a whole number/);
});

Deno.test("parseServerArgs() defaults to the platform KV for rows and blobs on Deno Deploy", () => {
  const c = ok([], { DENO_DEPLOYMENT_ID: "abc" });
  assert.equal(c.deploy, true);
  assert.deepEqual(c.storage, { kind: "kv" });
  assert.deepEqual(c.bundles, { kind: "kv" });
  assert.equal(ok([]).deploy, false);
});

Deno.test("parseServerArgs() reads the JSR visibility of undeclared namespaces (private unless told)", () => {
  assert.equal(ok([]).jsrVisibility, "private");
  assert.equal(ok(["--jsr-visibility", "public"]).jsrVisibility, "public");
  assert.equal(ok([], { JSR_VISIBILITY: "public" }).jsrVisibility, "public");
  assert.equal(
    ok(["--jsr-visibility=private"], { JSR_VISIBILITY: "public" }).jsrVisibility,
    "private",
  );
  assert.match(
    error(["--jsr-visibility=open"]),
    /--jsr-visibility must be private or public \(got 'open'\)/,
  );
});

Deno.test("the generated admin token is kept beside the store it guards", () => {
  assert.equal(adminTokenPath(ok([])), "./registry-data/admin-token");
  assert.equal(adminTokenPath(ok(["--data-dir=/srv/x"])), "/srv/x/admin-token");
  assert.equal(adminTokenPath(ok(["--storage=kv:/srv/reg/rows.kv"])), "/srv/reg/admin-token");
  assert.equal(adminTokenPath(ok(["--storage=kv:rows.kv"])), "./admin-token");
  assert.equal(adminTokenPath(ok(["--storage=fs:/srv/store"])), "/srv/store/admin-token");
  // Nowhere local to keep it beside: the data directory (remote KV), a temporary file (memory).
  assert.equal(
    adminTokenPath(ok(["--storage=kv:https://kv.example/db", "--data-dir=/d"])),
    "/d/admin-token",
  );
  assert.equal(adminTokenPath(ok(["--storage=memory"])), undefined);
});

Deno.test("parseServerArgs() refuses a registry hostname with a scheme or path, and malformed reserved scopes", () => {
  assert.equal(
    ok(["--registry-hostname=registry.example.com"]).registryHostname,
    "registry.example.com",
  );
  assert.equal(ok(["--registry-hostname=localhost:9001"]).registryHostname, "localhost:9001");
  assert.equal(ok(["--registry-hostname=[::1]:9001"]).registryHostname, "[::1]:9001");
  for (const bad of ["http://x", "x/y", "x y", "-x"]) {
    assert.match(
      error([`--registry-hostname=${bad}`]),
      /host\[:port\] without scheme or path/,
      bad,
    );
  }
  assert.deepEqual(ok(["--reserved-scopes=acme, @ggui"]).reservedScopes, ["@acme", "@ggui"]);
  assert.match(error(["--reserved-scopes=@@bad"]), /--reserved-scopes .*got '@@bad'/);
  assert.match(error(["--reserved-scopes=Acme"]), /got '@Acme'/);
});

Deno.test("parseServerArgs() refuses a --subject the server reserves for itself", () => {
  assert.match(error(["--token=t", "--subject=rack:admin"]), /--subject 'rack:admin' is reserved/);
  assert.match(error(["--token=t", "--subject=rack:token-0123456789ab"]), /reserved/);
  assert.equal(ok(["--token=t", "--subject=alice"]).subject, "alice");
});

Deno.test("parseServerArgs() serves the web pages unless --ui=false", () => {
  assert.equal(ok([]).ui, true);
  assert.equal(ok(["--ui=false"]).ui, false);
  assert.match(error(["--ui=off"]), /--ui must be true or false \(got 'off'\)/);
});
