// The JSR surface in process: publishing real tar.gz bytes the way `deno
// publish` sends them, every refusal JSR makes that matters here (with its
// code, and nothing half-published), private reads byte-identical to misses,
// yank, caching, and the race of identical publishes.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { createToken } from "../core/tokens.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import * as keys from "../storage/keys.ts";
import { gzip, makeTarball, type TarEntrySpec } from "./_rack_fixtures.ts";

const ALICE = "tok-alice";
const BOB = "tok-bob";

interface Fixture {
  app: RegistryApp;
  storage: MemoryRegistryStorage;
  /** A stored token reading `@acme`. */
  reader: string;
  /** A stored token publishing `@acme` (no yank). */
  ci: string;
  /** A stored global admin token. */
  admin: string;
}

async function fixture(
  options: {
    jsrLimits?: Record<string, number>;
    /** Require this token on /metrics (its full view). */
    metricsToken?: string;
    /** The auth.json text, read on every request (default: `@pub` anonymous). */
    authJson?: () => string;
    subscriptions?: {
      id: string;
      url: string;
      secret: string;
      events: string[];
      enabled: boolean;
    }[];
  } = {},
): Promise<Fixture> {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const clock = () => new Date();
  const tokens: Record<string, string> = { [ALICE]: "alice", [BOB]: "bob" };
  const authJson = options.authJson ?? (() => '{"@pub": []}');
  const app = createRegistryApp({
    storage,
    bundles,
    clock,
    authenticator: {
      authenticate: (t) =>
        Promise.resolve(tokens[t] ? { subject: tokens[t]!, admin: false } : null),
    },
    rackAuth: () => Promise.resolve(parseAuthConfig(authJson()).auth),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    ...(options.jsrLimits ? { jsrLimits: options.jsrLimits } : {}),
    ...(options.metricsToken ? { metricsToken: options.metricsToken } : {}),
    ...(options.subscriptions ? { subscriptions: options.subscriptions } : {}),
  });
  const root = { subject: "root", admin: true };
  const ctx = { storage, bundles, clock };
  const reader = await createToken(ctx, {
    subject: "reader",
    grants: [{ namespace: "@acme", actions: ["read"] }],
  }, root);
  const ci = await createToken(ctx, {
    subject: "ci",
    grants: [{ namespace: "@acme", actions: ["publish"] }],
  }, root);
  const admin = await createToken(ctx, {
    subject: "ops",
    grants: [{ namespace: "*", actions: ["admin"] }],
  }, root);
  return { app, storage, reader: reader.secret, ci: ci.secret, admin: admin.secret };
}

/** The files `deno publish` would send for a small package. */
function packageFiles(
  name = "@acme/greet",
  version = "1.0.0",
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    "deno.json": JSON.stringify({ name, version, exports: { ".": "./mod.ts" } }),
    "mod.ts": `export const version = "${version}";\n`,
    ...extra,
  };
}

function publishRequest(
  app: RegistryApp,
  ref: string,
  tarball: Uint8Array,
  token: string | null = ALICE,
  headers: Record<string, string> = {},
): Promise<Response> {
  const [scope, name, version] = ref.split("/");
  return Promise.resolve(app.request(
    `/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: {
        "content-encoding": "gzip",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: tarball as BodyInit,
    },
  ));
}

async function publish(
  app: RegistryApp,
  ref: string,
  files: Record<string, string> | TarEntrySpec[],
  token: string | null = ALICE,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await publishRequest(app, ref, await makeTarball(files), token);
  return { status: res.status, body: await res.json() };
}

function get(app: RegistryApp, path: string, token?: string, headers: Record<string, string> = {}) {
  return Promise.resolve(app.request(path, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  }));
}

/**
 * Every row key except audit records (refusals write those on purpose) and
 * GC bookkeeping (a refusal drops the blobs it stored under the GC lease;
 * each publish leaves a `gc_recent` row).
 */
async function rowKeys(storage: MemoryRegistryStorage): Promise<string[]> {
  const page = await storage.list([], { limit: 1000 });
  return page.items.map((i) => JSON.stringify(i.key)).filter((k) =>
    !k.startsWith('["audit"') && !k.startsWith('["ratelimit"') && !k.startsWith('["jsrtask"') &&
    !k.startsWith('["gc')
  );
}

Deno.test("a publish is a finished task, and the version reads back in JSR's layout", async () => {
  const { app } = await fixture();
  const files = packageFiles("@acme/greet", "1.0.0", { "lib/util.ts": "export const x = 1;\n" });
  const res = await publish(app, "acme/greet/1.0.0", files);
  assert.equal(res.status, 200);
  assert.equal(res.body.status, "success");
  assert.equal(res.body.error, null);
  assert.match(String(res.body.id), /^[0-9a-f-]{36}$/);
  const polled = await (await get(app, `/api/publish_status/${res.body.id}`)).json();
  assert.deepEqual(polled, res.body);

  const meta = await (await get(app, "/@acme/greet/meta.json", ALICE)).json();
  assert.deepEqual(meta, {
    scope: "acme",
    name: "greet",
    latest: "1.0.0",
    versions: { "1.0.0": {} },
  });
  const vmetaRes = await get(app, "/@acme/greet/1.0.0_meta.json", ALICE);
  const vmetaBytes = new Uint8Array(await vmetaRes.arrayBuffer());
  assert.equal(vmetaRes.headers.get("etag"), `"${sha256Hex(vmetaBytes)}"`);
  const vmeta = JSON.parse(new TextDecoder().decode(vmetaBytes));
  assert.deepEqual(Object.keys(vmeta.manifest), ["/deno.json", "/lib/util.ts", "/mod.ts"]);
  assert.deepEqual(vmeta.exports, { ".": "./mod.ts" });
  // Every checksum is the SHA-256 of the bytes served for that path.
  for (
    const [path, entry] of Object.entries(
      vmeta.manifest as Record<string, { size: number; checksum: string }>,
    )
  ) {
    const file = await get(app, `/@acme/greet/1.0.0${path}`, ALICE);
    const bytes = new Uint8Array(await file.arrayBuffer());
    assert.equal(entry.checksum, `sha256-${sha256Hex(bytes)}`, path);
    assert.equal(entry.size, bytes.byteLength);
    assert.equal(bytes.byteLength, new TextEncoder().encode(files[path.slice(1)]!).byteLength);
  }
  const mod = await get(app, "/@acme/greet/1.0.0/mod.ts", ALICE);
  assert.equal(mod.headers.get("content-type"), "text/typescript");
  assert.equal(mod.headers.get("cache-control"), "private, max-age=31536000, immutable");
  assert.equal(mod.headers.get("vary"), "Authorization");
  // A new version shows at once (the version list is reused only while the package row is unchanged).
  assert.equal(
    (await publish(app, "acme/greet/1.1.0", packageFiles("@acme/greet", "1.1.0"))).status,
    200,
  );
  const after = await (await get(app, "/@acme/greet/meta.json", ALICE)).json();
  assert.deepEqual(after.versions, { "1.1.0": {}, "1.0.0": {} });
  assert.equal(after.latest, "1.1.0");
  // The version metadata bytes never change (Deno's lockfile pins them).
  const again = new Uint8Array(
    await (await get(app, "/@acme/greet/1.0.0_meta.json", ALICE)).arrayBuffer(),
  );
  assert.deepEqual(again, vmetaBytes);
});

Deno.test("deno publish's pre-checks: a public version exists, a package a caller may publish answers 200", async () => {
  const { app } = await fixture();
  // Before any publish: the package a caller may publish "exists" (it is created by the first publish).
  const before = await get(app, "/api/scopes/acme/packages/greet", ALICE);
  assert.equal(before.status, 200);
  assert.equal((await before.json()).versionCount, 0);
  // Without a token, or for a scope another subject owns, it does not.
  assert.equal((await get(app, "/api/scopes/acme/packages/greet")).status, 404);
  assert.equal((await publish(app, "pub/tool/1.0.0", packageFiles("@pub/tool"))).status, 403);
  const version = await get(app, "/api/scopes/acme/packages/greet/versions/1.0.0");
  assert.equal(version.status, 404);
  assert.equal((await publish(app, "acme/greet/1.0.0", packageFiles())).status, 200);
  const bobView = await get(app, "/api/scopes/acme/packages/greet", BOB);
  assert.equal(bobView.status, 403, "bob may not publish into alice's scope");
  assert.equal((await bobView.json()).code, "actorNotScopeMember");
});

Deno.test("a namespace declared anonymous in auth.json serves its JSR packages to anyone", async () => {
  const { app, admin } = await fixture();
  // @pub is declared anonymous: only admins publish there.
  const refused = await publish(app, "pub/tool/1.0.0", packageFiles("@pub/tool"), ALICE);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, "actorNotScopeMember");
  assert.equal(
    (await publish(app, "pub/tool/1.0.0", packageFiles("@pub/tool"), admin)).status,
    200,
  );
  const meta = await get(app, "/@pub/tool/meta.json");
  assert.equal(meta.status, 200);
  assert.equal(meta.headers.get("cache-control"), "public, no-cache");
  assert.equal(meta.headers.get("vary"), "Authorization");
  await meta.body?.cancel();
  const mod = await get(app, "/@pub/tool/1.0.0/mod.ts");
  assert.equal(mod.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(await mod.text(), 'export const version = "1.0.0";\n');
  // The version pre-check of `deno publish` (unauthenticated) sees a public version.
  const version = await get(app, "/api/scopes/pub/packages/tool/versions/1.0.0");
  assert.equal(version.status, 200);
  assert.equal((await version.json()).yanked, false);
});

Deno.test("a private package is byte-identical to a missing one for callers who may not read it", async () => {
  const published = await fixture();
  const empty = await fixture();
  assert.equal((await publish(published.app, "acme/greet/1.0.0", packageFiles())).status, 200);
  const paths = [
    "/@acme/greet/meta.json",
    "/@acme/greet/1.0.0_meta.json",
    "/@acme/greet/1.0.0/mod.ts",
    "/api/scopes/acme/packages/greet/versions/1.0.0",
    "/api/scopes/acme/packages/greet/versions",
  ];
  for (const path of paths) {
    for (const token of [undefined, BOB]) {
      const a = await get(published.app, path, token);
      const b = await get(empty.app, path, token);
      assert.equal(a.status, 404, path);
      assert.equal(b.status, 404, path);
      assert.equal(await a.text(), await b.text(), path);
      assert.deepEqual([...a.headers], [...b.headers], path);
      assert.equal(a.headers.get("cache-control"), "no-store");
    }
  }
  // Readers by grant and the publisher read it.
  assert.equal((await get(published.app, "/@acme/greet/meta.json", published.reader)).status, 200);
  assert.equal(
    (await get(published.app, "/@acme/greet/1.0.0/mod.ts", published.reader)).status,
    200,
  );
  assert.equal((await get(published.app, "/@acme/greet/1.0.0/mod.ts", ALICE)).status, 200);
  // An invalid token is told so (401), whatever it asks for.
  const bad = await get(published.app, "/@acme/greet/meta.json", "nope");
  assert.equal(bad.status, 401);
  assert.equal((await bad.json()).code, "invalidBearerToken");
});

Deno.test("a package with hidden private versions answers a stranger exactly as a wholly public one, cache headers included", async () => {
  let authJson = '{"@pub": []}';
  const { app, admin } = await fixture({ authJson: () => authJson });
  for (const name of ["alpha", "bravo"]) {
    const path = `pub/${name}/1.0.0`;
    assert.equal((await publish(app, path, packageFiles(`@pub/${name}`), admin)).status, 200);
  }
  // @pub stops being anonymous: its next version is private.
  authJson = '{"@pub": [{"token": "pub-reader"}]}';
  const hidden = await publish(app, "pub/alpha/2.0.0", packageFiles("@pub/alpha", "2.0.0"), admin);
  assert.equal(hidden.status, 200);
  assert.equal((await get(app, "/@pub/alpha/2.0.0/mod.ts")).status, 404);
  for (const token of [undefined, BOB]) {
    const a = await get(app, "/@pub/alpha/meta.json", token);
    const b = await get(app, "/@pub/bravo/meta.json", token);
    assert.equal(a.status, 200);
    assert.equal((await a.text()).replace("alpha", "bravo"), await b.text());
    const headers = (r: Response) => [...r.headers].filter(([k]) => k !== "etag");
    assert.deepEqual(headers(a), headers(b));
    assert.equal(a.headers.get("cache-control"), "public, no-cache");
    assert.equal(a.headers.get("vary"), "Authorization");
  }
  // Who may read the private version sees it, privately.
  const own = await get(app, "/@pub/alpha/meta.json", admin);
  assert.equal(own.headers.get("cache-control"), "private, no-cache");
  assert.deepEqual(Object.keys((await own.json()).versions), ["2.0.0", "1.0.0"]);
});

Deno.test("a refusal that quotes a huge value is still a failed task, with a bounded message", async () => {
  const { app, storage } = await fixture();
  const baseline = await rowKeys(storage);
  const huge = "x".repeat(70_000);
  const cases: [Record<string, string>, string][] = [
    [{
      "deno.json": JSON.stringify({ name: `@acme/${huge}`, version: "1.0.0", exports: "./mod.ts" }),
      "mod.ts": "",
    }, "configFileNameMismatch"],
    [{
      "deno.json": JSON.stringify({
        name: "@acme/greet",
        version: "1.0.0",
        exports: { [`./${huge}`]: "./mod.ts" },
      }),
      "mod.ts": "",
    }, "configFileExportsInvalid"],
    [{
      // 100 exports of 200 characters each: over the 16 KiB the version row keeps.
      "deno.json": JSON.stringify({
        name: "@acme/greet",
        version: "1.0.0",
        exports: Object.fromEntries(
          Array.from({ length: 100 }, (_, i) => [`./${String(i).padStart(200, "e")}`, "./mod.ts"]),
        ),
      }),
      "mod.ts": "",
    }, "configFileExportsInvalid"],
  ];
  for (const [files, code] of cases) {
    const res = await publish(app, "acme/greet/1.0.0", files);
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    const error = res.body.error as { code: string; message: string };
    assert.equal(error.code, code);
    assert.ok(error.message.length < 400, `${error.message.length} characters`);
    assert.deepEqual(await rowKeys(storage), baseline, "nothing half-published");
  }
});

Deno.test("ETags: meta.json and files answer 304 on If-None-Match", async () => {
  const { app } = await fixture();
  await publish(app, "acme/greet/1.0.0", packageFiles());
  for (
    const path of [
      "/@acme/greet/meta.json",
      "/@acme/greet/1.0.0_meta.json",
      "/@acme/greet/1.0.0/mod.ts",
    ]
  ) {
    const first = await get(app, path, ALICE);
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{64}"$/, path);
    const again = await get(app, path, ALICE, { "if-none-match": etag });
    assert.equal(again.status, 304, path);
  }
  // A version's documents are dated by its publication.
  for (const path of ["/@acme/greet/1.0.0_meta.json", "/@acme/greet/1.0.0/mod.ts"]) {
    const first = await get(app, path, ALICE);
    await first.body?.cancel();
    const lastModified = first.headers.get("last-modified")!;
    assert.ok(lastModified, path);
    const again = await get(app, path, ALICE, { "if-modified-since": lastModified });
    assert.equal(again.status, 304, path);
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
    const stale = await get(app, path, ALICE, { "if-modified-since": earlier });
    assert.equal(stale.status, 200, path);
    await stale.body?.cancel();
  }
  const meta = await get(app, "/@acme/greet/meta.json", ALICE);
  assert.equal(meta.headers.get("cache-control"), "private, no-cache");
  assert.equal(meta.headers.get("vary"), "Authorization");
  await meta.body?.cancel();
});

Deno.test("Range: files answer 206 with the slice and 416 past the end; a stranger's range is the same miss", async () => {
  const { app } = await fixture();
  await publish(app, "acme/greet/1.0.0", packageFiles());
  const whole = await get(app, "/@acme/greet/1.0.0/mod.ts", ALICE);
  assert.equal(whole.headers.get("accept-ranges"), "bytes");
  const bytes = new Uint8Array(await whole.arrayBuffer());
  assert.ok(bytes.byteLength > 10);

  const part = await get(app, "/@acme/greet/1.0.0/mod.ts", ALICE, { range: "bytes=2-6" });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 2-6/${bytes.byteLength}`);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(2, 7));
  assert.equal(part.headers.get("cache-control"), whole.headers.get("cache-control"));

  const past = await get(app, "/@acme/greet/1.0.0/mod.ts", ALICE, { range: "bytes=99999-" });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), `bytes */${bytes.byteLength}`);
  await past.body?.cancel();

  // The file's size must not leak to a caller who may not read it: the same 404 as a missing file.
  const ranged = await get(app, "/@acme/greet/1.0.0/mod.ts", BOB, { range: "bytes=99999-" });
  const empty = await fixture();
  const missing = await get(empty.app, "/@acme/greet/1.0.0/mod.ts", BOB, { range: "bytes=99999-" });
  assert.equal(ranged.status, 404);
  assert.equal(ranged.headers.get("content-range"), null);
  assert.equal(missing.status, 404);
  assert.deepEqual(await ranged.text(), await missing.text());
});

Deno.test("publishing refusals answer JSR's codes and change nothing", async (t) => {
  const { app, storage, reader } = await fixture({
    jsrLimits: { maxFileBytes: 4096, maxPackageBytes: 16384, maxTarballBytes: 65536 },
  });
  const baseline = await rowKeys(storage);
  const failures: [string, Record<string, string> | TarEntrySpec[], string][] = [
    ["a path leaving the package", [...entries(packageFiles()), {
      path: "../evil.ts",
      content: "x",
    }], "invalidPath"],
    [
      "an absolute path",
      [...entries(packageFiles()), { path: "/etc/evil.ts", content: "x" }],
      "invalidPath",
    ],
    ["a symlink", [...entries(packageFiles()), {
      path: "link.ts",
      type: "symlink",
      target: "/etc/passwd",
    }], "linkInTarball"],
    ["a hard link", [...entries(packageFiles()), {
      path: "hard.ts",
      type: "link",
      target: "mod.ts",
    }], "linkInTarball"],
    [
      "a device",
      [...entries(packageFiles()), { path: "dev", type: "char-device" }],
      "invalidEntryType",
    ],
    [
      "a .git path",
      [...entries(packageFiles()), { path: ".git/config", content: "x" }],
      "invalidGitPath",
    ],
    [
      "paths differing in case",
      [...entries(packageFiles()), { path: "Mod.ts", content: "x" }],
      "caseInsensitiveDuplicatePath",
    ],
    [
      "paths differing only in Unicode normalization",
      [...entries(packageFiles()), { path: "caf\u00e9.ts", content: "a" }, {
        path: "cafe\u0301.ts",
        content: "b",
      }],
      "caseInsensitiveDuplicatePath",
    ],
    [
      "a backslash in a path",
      [...entries(packageFiles()), { path: "a\\b.ts", content: "x" }],
      "invalidPath",
    ],
    [
      "an oversize file",
      packageFiles("@acme/greet", "1.0.0", { "big.ts": "x".repeat(5000) }),
      "fileTooLarge",
    ],
    [
      "an oversize package",
      packageFiles(
        "@acme/greet",
        "1.0.0",
        Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}.ts`, "y".repeat(3000)])),
      ),
      "packageTooLarge",
    ],
    ["no config file", { "mod.ts": "export {};\n" }, "missingConfigFile"],
    ["a config that is not JSON", { "deno.json": "{nope", "mod.ts": "" }, "invalidConfigFile"],
    ["another package's name", packageFiles("@acme/other"), "configFileNameMismatch"],
    ["another version", packageFiles("@acme/greet", "2.0.0"), "configFileVersionMismatch"],
    ["exports naming a missing file", {
      "deno.json": JSON.stringify({ name: "@acme/greet", version: "1.0.0", exports: "./gone.ts" }),
      "mod.ts": "",
    }, "configFileExportsInvalid"],
    ["no exports", {
      "deno.json": JSON.stringify({ name: "@acme/greet", version: "1.0.0" }),
      "mod.ts": "",
    }, "configFileExportsInvalid"],
  ];
  for (const [what, files, code] of failures) {
    await t.step(`${what}: a failed task with ${code}`, async () => {
      const res = await publish(app, "acme/greet/1.0.0", files);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, "failure");
      assert.equal((res.body.error as { code: string }).code, code, JSON.stringify(res.body.error));
      const polled = await (await get(app, `/api/publish_status/${res.body.id}`)).json();
      assert.equal(polled.status, "failure");
      assert.deepEqual(await rowKeys(storage), baseline, "nothing half-published");
      assert.equal((await get(app, "/@acme/greet/meta.json", ALICE)).status, 404);
    });
  }
  await t.step("a zip bomb stops at the cap with packageTooLarge", async () => {
    const tar = await makeTarball(
      packageFiles("@acme/greet", "1.0.0", { "bomb.ts": "0".repeat(3 * 1024 * 1024) }),
      { gzip: false },
    );
    const res = await publishRequest(app, "acme/greet/1.0.0", await gzip(tar));
    const body = await res.json();
    assert.equal(body.status, "failure");
    assert.match(body.error.code, /^(fileTooLarge|packageTooLarge)$/);
    assert.deepEqual(await rowKeys(storage), baseline);
  });
  await t.step("a truncated upload: invalidTarball", async () => {
    const cut = await makeTarball(packageFiles(), { truncateBy: 20 });
    const body = await (await publishRequest(app, "acme/greet/1.0.0", cut)).json();
    assert.equal(body.status, "failure");
    assert.equal(body.error.code, "invalidTarball");
    assert.deepEqual(await rowKeys(storage), baseline);
  });
  await t.step("bytes that are not gzip: invalidTarball", async () => {
    const res = await publishRequest(
      app,
      "acme/greet/1.0.0",
      new TextEncoder().encode("not a tarball"),
    );
    const body = await res.json();
    assert.equal(body.error.code, "invalidTarball");
  });
  const httpFailures: [string, () => Promise<Response>, number, string][] = [
    [
      "no token",
      async () => publishRequest(app, "acme/greet/1.0.0", await makeTarball(packageFiles()), null),
      401,
      "missingAuthentication",
    ],
    [
      "a wrong token",
      async () =>
        publishRequest(app, "acme/greet/1.0.0", await makeTarball(packageFiles()), "wrong"),
      401,
      "invalidBearerToken",
    ],
    [
      "a token that may only read",
      async () =>
        publishRequest(app, "acme/greet/1.0.0", await makeTarball(packageFiles()), reader),
      403,
      "actorNotScopeMember",
    ],
    [
      "another subject's scope",
      async () => {
        await publish(app, "bobs/x/1.0.0", packageFiles("@bobs/x"), BOB);
        return publishRequest(
          app,
          "bobs/x/2.0.0",
          await makeTarball(packageFiles("@bobs/x", "2.0.0")),
          ALICE,
        );
      },
      403,
      "actorNotScopeMember",
    ],
    [
      "no gzip encoding",
      async () =>
        publishRequest(app, "acme/greet/1.0.0", await makeTarball(packageFiles()), ALICE, {
          "content-encoding": "identity",
        }),
      400,
      "missingGzipContentEncoding",
    ],
    [
      "a bad version",
      async () => publishRequest(app, "acme/greet/1.0", await makeTarball(packageFiles()), ALICE),
      400,
      "malformedRequest",
    ],
    [
      "a bad scope",
      async () =>
        publishRequest(app, "AC..ME/greet/1.0.0", await makeTarball(packageFiles()), ALICE),
      400,
      "malformedRequest",
    ],
    [
      "a declared oversize tarball",
      async () =>
        publishRequest(app, "acme/greet/1.0.0", await makeTarball(packageFiles()), ALICE, {
          "content-length": "70000",
        }),
      413,
      "tarballSizeLimitExceeded",
    ],
    [
      "an oversize streamed tarball",
      () => publishRequest(app, "acme/greet/1.0.0", new Uint8Array(65537).fill(7)),
      413,
      "tarballSizeLimitExceeded",
    ],
  ];
  for (const [what, send, status, code] of httpFailures) {
    await t.step(`${what}: ${status} ${code}`, async () => {
      const before = await rowKeys(storage);
      const res = await send();
      assert.equal(res.status, status);
      const body = await res.json();
      assert.equal(body.code, code);
      assert.equal(typeof body.message, "string");
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.deepEqual(
        (await rowKeys(storage)).filter((k) => !k.includes("bobs")),
        before.filter((k) => !k.includes("bobs")),
      );
    });
  }
  await t.step("refused publishes leave an audit record", async () => {
    const page = await storage.list(keys.auditPrefix(), { limit: 1000 });
    const refused = page.items.map((i) => i.value as { action: string; outcome: string }).filter((
      a,
    ) => a.action === "jsr.publish" && a.outcome === "refused");
    assert.ok(refused.length >= 4, `${refused.length} refusals audited`);
  });
});

function entries(files: Record<string, string>): TarEntrySpec[] {
  return Object.entries(files).map(([path, content]) => ({ path, content }));
}

Deno.test("twenty identical publishes at once: one success, nineteen duplicateVersionPublish with its task", async () => {
  const { app, storage } = await fixture();
  const tarball = await makeTarball(packageFiles());
  const results = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const res = await publishRequest(app, "acme/greet/1.0.0", tarball);
      return { status: res.status, body: await res.json() };
    }),
  );
  const ok = results.filter((r) => r.status === 200 && r.body.status === "success");
  const dup = results.filter((r) => r.status === 400 && r.body.code === "duplicateVersionPublish");
  assert.equal(ok.length, 1);
  assert.equal(dup.length, 19);
  for (const d of dup) {
    assert.equal(d.body.task.id, ok[0]!.body.id, "Deno needs the existing task to skip");
    assert.equal(d.body.task.status, "success");
  }
  const versions = await storage.list(keys.versionsPrefix({ namespace: "@acme", name: "greet" }));
  assert.equal(versions.items.length, 1);
});

Deno.test("yank through the API: ranges skip it, exact reads keep it, and only yankers may", async () => {
  const { app, ci, reader, admin } = await fixture();
  await publish(app, "acme/greet/1.0.0", packageFiles());
  await publish(app, "acme/greet/1.1.0", packageFiles("@acme/greet", "1.1.0"));
  const patch = (token: string, yanked: unknown) =>
    app.request("/api/scopes/acme/packages/greet/versions/1.1.0", {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ yanked }),
    });
  const refused = await patch(ci, true);
  assert.equal(refused.status, 403, "publish rights do not include yank");
  assert.equal((await refused.json()).code, "missingPermission");
  const stranger = await patch(BOB, true);
  assert.equal(stranger.status, 404, "a private version is a miss to a stranger");
  await stranger.body?.cancel();
  const owner = await patch(ALICE, true);
  assert.equal(
    owner.status,
    403,
    "yank needs the yank grant, as on the admin API (docs/access.md)",
  );
  await owner.body?.cancel();
  const bad = await patch(admin, "yes");
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  assert.equal((await patch(admin, true)).status, 204);
  const meta = await (await get(app, "/@acme/greet/meta.json", reader)).json();
  assert.deepEqual(meta.versions, { "1.1.0": { yanked: true }, "1.0.0": {} });
  assert.equal(meta.latest, "1.0.0");
  assert.equal((await get(app, "/@acme/greet/1.1.0/mod.ts", reader)).status, 200);
  assert.equal((await patch(admin, false)).status, 204);
  const after = await (await get(app, "/@acme/greet/meta.json", reader)).json();
  assert.equal(after.latest, "1.1.0");
});

Deno.test("a JSR package name held by another surface's format is a conflict", async () => {
  const { app, storage } = await fixture();
  const at = new Date().toISOString();
  await storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: keys.packageKey({ namespace: "@acme", name: "greet" }),
      value: {
        namespace: "@acme",
        name: "greet",
        format: "ggui.gadget",
        createdAt: at,
        createdBy: "alice",
        updatedAt: at,
        versionCount: 0,
        tags: {},
      },
    }],
  });
  const res = await publish(app, "acme/greet/1.0.0", packageFiles());
  assert.equal(res.status, 409);
  assert.equal(res.body.code, "packageFormatConflict");
  // Reading it through JSR answers exactly what a missing package answers.
  const empty = await fixture();
  for (const path of ["/@acme/greet/meta.json", "/api/scopes/acme/packages/greet/versions"]) {
    const a = await get(app, path, ALICE);
    const b = await get(empty.app, path, ALICE);
    assert.equal(a.status, 404);
    assert.equal(await a.text(), await b.text());
  }
  const unknown = await get(app, "/api/nothing-here");
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, "notFound");
});

Deno.test("a JSR publish writes its audit record and webhook delivery in the same commit, and counts in /metrics", async () => {
  const subscriptions = [{
    id: "hook1",
    url: "https://hooks.example.com/jsr",
    secret: "s3cret",
    events: ["package.published"],
    enabled: true,
  }];
  // A private package's publishes count in the operator's view (the metrics token's).
  const { app, storage } = await fixture({ subscriptions, metricsToken: "m" });
  const scrape = async (result: string, name = "registry_publishes_total") => {
    const text = await (await get(app, "/metrics", "m")).text();
    const line = text.split("\n").find((l) =>
      l.startsWith(`${name}{`) && l.includes('surface="jsr"') &&
      (name !== "registry_publishes_total" || l.includes(`result="${result}"`))
    );
    return line ? Number(line.split(" ").at(-1)) : 0;
  };
  const before = await scrape("created");
  const tarball = await makeTarball(packageFiles());
  assert.equal((await publishRequest(app, "acme/greet/1.0.0", tarball)).status, 200);
  assert.equal(await scrape("created"), before + 1);
  // A failed task (a 200 on the wire) counts as refused; a duplicate (a 400) as a conflict.
  const refused = await scrape("refused");
  const bad = await publishRequest(app, "acme/greet/2.0.0", await makeTarball({ "mod.ts": "" }));
  assert.equal((await bad.json()).status, "failure");
  assert.equal(await scrape("refused"), refused + 1);
  const conflicts = await scrape("", "registry_version_conflicts_total");
  const dup = await publishRequest(app, "acme/greet/1.0.0", tarball);
  assert.equal((await dup.json()).code, "duplicateVersionPublish");
  assert.equal(await scrape("", "registry_version_conflicts_total"), conflicts + 1);
  const outbox = await storage.list(keys.outboxPrefix(), { limit: 100 });
  assert.equal(outbox.items.length, 1);
  const row = outbox.items[0]!.value as { event: string; url: string; body: string };
  assert.equal(row.event, "package.published");
  assert.equal(row.url, "https://hooks.example.com/jsr");
  const body = JSON.parse(row.body);
  assert.equal(body.format, "jsr");
  assert.equal(`${body.namespace}/${body.name}@${body.version}`, "@acme/greet@1.0.0");
  const audit = await storage.list(keys.auditPrefix(), { limit: 100 });
  const published = audit.items.map((i) =>
    i.value as { action: string; actor: string; detail: Record<string, unknown> }
  )
    .filter((a) => a.action === "jsr.publish");
  assert.equal(published.length, 1);
  assert.equal(published[0]!.actor, "alice");
  assert.equal(published[0]!.detail.tarballSha256, sha256Hex(tarball));
});

Deno.test("a package's HTML and SVG files are served inert: sandboxed, script-less and never sniffed", async () => {
  const { app } = await fixture();
  const page = "<html><body><script>alert(document.cookie)</script></body></html>\n";
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>\n';
  const files = packageFiles("@acme/pages", "1.0.0", { "docs/index.html": page, "logo.svg": svg });
  assert.equal((await publish(app, "acme/pages/1.0.0", files)).status, 200);
  for (const [path, bytes] of [["docs/index.html", page], ["logo.svg", svg]]) {
    const res = await get(app, `/@acme/pages/1.0.0/${path}`, ALICE);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-security-policy"), "sandbox; default-src 'none'", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    // deno's bytes are unchanged.
    assert.equal(await res.text(), bytes, path);
  }
});
