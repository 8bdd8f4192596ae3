// Which versions a package can take, on every surface of one app: a version
// whose SemVer precedence another holds (they differ only in build metadata) is
// refused and named, and a publish into a package of another format is a format
// conflict before anything else (never "exists", never a made-up JSR success).
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import type { RegistryContext } from "../core/context.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import type { PackageRow, VersionRow, VersionState } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { createToken } from "../core/tokens.ts";
import { CLI_PRINCIPAL } from "../server/cli.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { JsonValue } from "../storage/types.ts";
import { makeBlueprint, makeGadget, makeKey, type TestKey } from "./_ggui_fixtures.ts";
import { ADMIN, makeItem, makePackage, makeTarball, uploadRequest } from "./_rack_fixtures.ts";

const NAME = "semv";

interface Env {
  app: ReturnType<typeof createRegistryApp>;
  ctx: RegistryContext;
  /** A stored token with `publish` on `@acme` (every surface). */
  token: string;
  /** A stored token with `admin` everywhere. */
  admin: string;
  key: TestKey;
}

async function setup(): Promise<Env> {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ctx: RegistryContext = { storage, bundles, clock: () => new Date() };
  const authJson = { "@acme": [{ token: "acme-ci", publish: true, mark: "CI" }] };
  const { auth } = parseAuthConfig(JSON.stringify(authJson), { adminToken: ADMIN });
  const app = createRegistryApp({
    storage,
    bundles,
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    compress: false,
  });
  const publisher = await createToken(ctx, {
    subject: "publisher",
    grants: [{ namespace: "@acme", actions: ["publish", "read"] }],
  }, CLI_PRINCIPAL);
  const admin = await createToken(ctx, {
    subject: "operator",
    grants: [{ namespace: "*", actions: ["admin"] }],
  }, CLI_PRINCIPAL);
  const key = await makeKey();
  const env = { app, ctx, token: publisher.secret, admin: admin.secret, key };
  const registered = await request(env, "POST", "/author-keys", {
    publicKeyBase64: key.publicKeyBase64,
  });
  assert.equal(registered.status, 201);
  return env;
}

function request(env: Env, method: string, path: string, body?: unknown, token = env.token) {
  return env.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** What each format's publish of `@acme/semv@<version>` sends, and how its surface answers. */
const FORMATS = {
  "ggui.gadget": {
    conflict: "package_format_conflict",
    publish: async (env: Env, version: string) =>
      await request(
        env,
        "POST",
        "/publish",
        await makeGadget(env.key, { manifest: { name: NAME, version } }),
      ),
  },
  "ggui.blueprint": {
    conflict: "package_format_conflict",
    publish: async (env: Env, version: string) =>
      await request(
        env,
        "POST",
        "/publish",
        await makeBlueprint(env.key, { manifest: { name: NAME, version } }),
      ),
  },
  "rack.registry": {
    conflict: "FORMAT_CONFLICT",
    publish: async (env: Env, version: string) =>
      await env.app.request(uploadRequest(
        await makePackage({
          item: makeItem({ namespace: "@acme", name: NAME, path: NAME, version }),
        }),
        { token: env.token, url: "http://registry.test" },
      )),
  },
  "jsr": {
    conflict: "packageFormatConflict",
    publish: async (env: Env, version: string) =>
      await env.app.request(
        `/api/scopes/acme/packages/${NAME}/versions/${version}?config=/deno.json`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${env.token}`, "content-encoding": "gzip" },
          body: await makeTarball({
            "deno.json": JSON.stringify({ name: `@acme/${NAME}`, version, exports: "./mod.ts" }),
            "mod.ts": "export const x = 1;\n",
          }) as BodyInit,
        },
      ),
  },
} as const;
type Format = keyof typeof FORMATS;

/** The wire code of an error body on any surface (ggui `error`, Rack and JSR `code`). */
function codeOf(body: Record<string, unknown>): unknown {
  return body.error ?? body.code;
}

/** Publish and expect success: 201 (ggui, Rack) or a `success` task (JSR). */
async function published(env: Env, format: Format, version: string): Promise<void> {
  const res = await FORMATS[format].publish(env, version);
  const body = await res.json();
  assert.ok(res.status === 201 || body.status === "success", JSON.stringify(body));
}

/** Every row but audit records and counters, to prove a refusal wrote nothing. */
async function rows(ctx: RegistryContext): Promise<string[]> {
  const out: string[] = [];
  for await (const e of listAll(ctx.storage, [])) {
    // Audit records, rate counters and gc's bookkeeping (a refused upload's cleanup takes
    // gc's lease) are not the package's state.
    const kind = String(e.key[0]);
    if (kind !== "audit" && kind !== "rate" && !kind.startsWith("gc")) {
      out.push(JSON.stringify([e.key, e.value]));
    }
  }
  return out;
}

async function refused(
  env: Env,
  format: Format,
  version: string,
  expect: { status: number; code: string; message?: RegExp },
): Promise<Record<string, unknown>> {
  const before = await rows(env.ctx);
  const res = await FORMATS[format].publish(env, version);
  const body = await res.json();
  assert.equal(res.status, expect.status, `${format} ${version}: ${JSON.stringify(body)}`);
  assert.equal(codeOf(body), expect.code, `${format} ${version}`);
  if (expect.message) assert.match(String(body.message), expect.message);
  assert.deepEqual(await rows(env.ctx), before, `${format} ${version} wrote nothing`);
  return body;
}

Deno.test("a publish into a package of another format is a format conflict on every surface, whatever the version", async (t) => {
  const formats = Object.keys(FORMATS) as Format[];
  for (const first of formats) {
    for (const then of formats.filter((f) => f !== first)) {
      await t.step(`${then} into a ${first} package`, async () => {
        const env = await setup();
        await published(env, first, "1.0.0");
        // The same version first: today's bug answered "exists" (JSR: a made-up success task).
        for (const version of ["1.0.0", "2.0.0"]) {
          const body = await refused(env, then, version, {
            status: 409,
            code: FORMATS[then].conflict,
          });
          assert.equal(body.task, undefined, "no task: deno publish must not print success");
        }
      });
    }
  }
});

Deno.test("ggui refuses a version whose precedence an existing one holds, naming it", async () => {
  const env = await setup();
  await published(env, "ggui.gadget", "1.0.0");
  for (const version of ["1.0.0+a", "1.0.0+b", "1.0.0+build.1"]) {
    await refused(env, "ggui.gadget", version, {
      status: 409,
      code: "version_exists",
      message: /same precedence as @acme\/semv@1\.0\.0,/,
    });
  }
  await refused(env, "ggui.gadget", "1.0.0", {
    status: 409,
    code: "version_exists",
    message: /^@acme\/semv@1\.0\.0 is already published/,
  });
  await published(env, "ggui.gadget", "2.0.0+a");
  await refused(env, "ggui.gadget", "2.0.0", {
    status: 409,
    code: "version_exists",
    message: /same precedence as @acme\/semv@2\.0\.0\+a,/,
  });
  await published(env, "ggui.gadget", "2.0.0-rc.1+a");
});

Deno.test("Rack refuses a version whose precedence an existing one holds, naming it", async () => {
  const env = await setup();
  await published(env, "rack.registry", "1.0.0+a");
  for (const version of ["1.0.0", "1.0.0+b", "1.0.0+build.1"]) {
    await refused(env, "rack.registry", version, {
      status: 409,
      code: "VERSION_EXISTS",
      message: /same precedence as @acme\/semv@1\.0\.0\+a,/,
    });
  }
  const list = await request(env, "GET", `/registries/@acme/${NAME}/versions`);
  assert.deepEqual((await list.json()).versions, ["1.0.0+a"]);
});

Deno.test("JSR answers an exact duplicate with its task and a precedence duplicate or a deleted version with a failure deno publish reports", async () => {
  const env = await setup();
  await published(env, "jsr", "1.0.0+a");
  const dup = await refused(env, "jsr", "1.0.0+a", {
    status: 400,
    code: "duplicateVersionPublish",
  });
  assert.equal((dup.task as { status: string; packageVersion: string }).packageVersion, "1.0.0+a");
  for (const version of ["1.0.0", "1.0.0+b"]) {
    const body = await refused(env, "jsr", version, {
      status: 409,
      code: "versionPrecedenceTaken",
      message: /same precedence as 1\.0\.0\+a,/,
    });
    assert.equal(body.task, undefined);
  }
  const deleted = await request(
    env,
    "DELETE",
    `/admin/packages/@acme/${NAME}/versions/1.0.0%2Ba`,
    undefined,
    env.admin,
  );
  assert.equal(deleted.status, 200, await deleted.text());
  // Today: 400 duplicateVersionPublish with a made-up success task for a deleted version.
  await refused(env, "jsr", "1.0.0+a", {
    status: 409,
    code: "versionPrecedenceTaken",
    message: /was deleted and cannot be published again/,
  });
  // The precedence stays taken after the delete: no other bytes as "1.0.0".
  await refused(env, "jsr", "1.0.0+c", { status: 409, code: "versionPrecedenceTaken" });
  await published(env, "jsr", "1.0.1");
});

Deno.test("a store holding versions that differ only in build metadata keeps serving both and takes no third", async () => {
  const env = await setup();
  await published(env, "rack.registry", "1.0.0+b");
  // Make it what an older server left: a second version of that precedence, no pointers.
  const ref = { namespace: "@acme", name: NAME };
  const b =
    (await env.ctx.storage.get<VersionRow>(keys.versionKey({ ...ref, version: "1.0.0+b" })))!;
  const bState = (await env.ctx.storage.get<VersionState>(
    keys.versionStateKey({ ...ref, version: "1.0.0+b" }),
  ))!;
  const pkg = (await env.ctx.storage.get<PackageRow>(keys.packageKey(ref)))!;
  const a = { ...b.value, version: "1.0.0+a" };
  await env.ctx.storage.commit({
    checks: [],
    mutations: [
      { type: "set", key: keys.versionKey(a), value: a as unknown as JsonValue },
      {
        type: "set",
        key: keys.versionStateKey(a),
        value: { ...bState.value, version: "1.0.0+a" } as unknown as JsonValue,
      },
      {
        type: "set",
        key: keys.packageKey(ref),
        value: { ...pkg.value, versionCount: 2 } as unknown as JsonValue,
      },
      { type: "delete", key: keys.versionByPrecedenceKey(ref, "1.0.0") },
      { type: "delete", key: keys.precedenceIndexedKey(ref) },
    ],
  });
  // The first publish indexes the package (pointer: no build metadata, else the smallest).
  const first = await FORMATS["rack.registry"].publish(env, "1.0.0");
  assert.equal(first.status, 409);
  assert.match((await first.json()).message, /same precedence as @acme\/semv@1\.0\.0\+a,/);
  const pointer = await env.ctx.storage.get(keys.versionByPrecedenceKey(ref, "1.0.0"));
  assert.deepEqual(pointer?.value, { version: "1.0.0+a" });
  await refused(env, "rack.registry", "1.0.0+c", {
    status: 409,
    code: "VERSION_EXISTS",
    message: /same precedence as @acme\/semv@1\.0\.0\+a,/,
  });
  for (const version of ["1.0.0+a", "1.0.0+b"]) {
    const res = await request(env, "GET", `/registries/@acme/${NAME}/${version}`);
    assert.equal(res.status, 200, version);
    await res.body?.cancel();
  }
  const list = await request(env, "GET", `/registries/@acme/${NAME}/versions`);
  assert.deepEqual((await list.json()).versions, ["1.0.0+b", "1.0.0+a"]);
  await published(env, "rack.registry", "1.0.1");
});
