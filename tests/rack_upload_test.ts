// The Rack upload pipeline over HTTP (in process, memory storage, real tar.gz
// bytes): every step of spec §6.2 in order, the §13 fixes, and that no refused
// upload leaves a version, a row or a visible file behind.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { rackTokenSubject } from "../core/rack/auth.ts";
import { putVersionIfAbsent } from "../core/store.ts";
import { nextPackageRow } from "../core/packages.ts";
import {
  ADMIN,
  AUTH_JSON,
  gzip,
  makeItem,
  makePackage,
  makeRackEnv,
  makeTarball,
  multipartStream,
  type RackTestEnv,
  tarHeader,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";

async function expectError(res: Response, status: number, code: string, message?: string | RegExp) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.code, code, JSON.stringify(body));
  assert.equal(res.headers.get("cache-control"), "no-store");
  if (typeof message === "string") assert.equal(body.message, message);
  else if (message) assert.match(body.message, message);
  return body;
}

/** No version, lifecycle, package or outbox row exists, and every audit record is a refusal. */
async function assertNoTrace(env: RackTestEnv): Promise<void> {
  for (const prefix of [["ver"], ["vstate"], ["pkg"], ["outbox"]]) {
    const page = await env.ctx.storage.list(prefix);
    assert.deepEqual(page.items, [], `rows under ${prefix[0]}`);
  }
  const audits = await env.ctx.storage.list<{ outcome: string }>(["audit"]);
  assert.deepEqual(
    audits.items.filter((e) => e.value.outcome !== "refused"),
    [],
    "rows under audit",
  );
  const res = await env.app.request("/registries/@rack/quality/husky/versions");
  assert.equal(res.status, 404);
  await res.body?.cancel();
}

async function upload(
  env: RackTestEnv,
  archive: Uint8Array,
  options: Parameters<typeof uploadRequest>[1] = {},
) {
  return await env.app.request(uploadRequest(archive, { token: ADMIN, ...options }));
}

Deno.test("POST /registries publishes a package and answers the spec's 201 body", async () => {
  const env = makeRackEnv();
  const res = await upload(env, await makePackage());
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), {
    name: "husky",
    version: "1.0.0",
    namespace: "@rack",
    message: "Registry uploaded successfully",
    path: "@rack/quality/husky/1.0.0",
  });
  const audit = await env.ctx.storage.list(["audit"]);
  assert.equal(audit.items.length, 1);
  assert.equal((audit.items[0]!.value as { actor: string }).actor, "rack:admin");
});

Deno.test("POST /registries takes the first file part under any name and the checksum before or after it", async () => {
  const env = makeRackEnv();
  const a = await makePackage({ item: makeItem({ version: "1.0.0" }) });
  const b = await makePackage({ item: makeItem({ version: "1.1.0" }) });
  const c = await makePackage({ item: makeItem({ version: "1.2.0" }) });
  assert.equal((await upload(env, a, { checksumFirst: true, field: "package" })).status, 201);
  assert.equal(
    (await upload(env, b, { field: "whatever", type: "application/octet-stream" })).status,
    201,
  );
  // A second file part is ignored; the token travels in X-Registry-Token.
  const form = new FormData();
  form.append("file", new File([c as BlobPart], "c.tgz", { type: "application/x-gzip" }));
  form.append("other", new File([a as BlobPart], "a.tgz", { type: "application/gzip" }));
  form.append("checksum", sha256Hex(c));
  const res = await env.app.request(
    new Request("http://x/registries", {
      method: "POST",
      body: form,
      headers: { "x-registry-token": ADMIN },
    }),
  );
  assert.equal(res.status, 201, await res.clone().text());
  const versions = await (await env.app.request("/registries/@rack/quality/husky/versions")).json();
  assert.deepEqual(versions, { versions: ["1.2.0", "1.1.0", "1.0.0"] });
});

Deno.test("a namespace token with publish:true uploads to its own namespace", async () => {
  const env = makeRackEnv();
  const item = makeItem({ namespace: "@company", name: "my-tool", type: "registry:feature" });
  const res = await upload(env, await makePackage({ item }), { token: "ci-token" });
  assert.equal(res.status, 201);
  assert.equal((await res.json()).path, "@company/features/my-tool/1.0.0");
  const audit = (await env.ctx.storage.list(["audit"])).items[0]!.value as {
    actor: string;
    detail: { mark: string };
  };
  // The subject comes from the token; the mark is the label in the detail.
  assert.equal(audit.actor, rackTokenSubject(sha256Hex("ci-token")));
  assert.equal(audit.detail.mark, "CI");
  // Gated namespace → the version is private to the ggui side.
  const ver = (await env.ctx.storage.list(["ver"])).items[0]!.value as { visibility: string };
  assert.equal(ver.visibility, "private");
});

Deno.test("an archive written with a ./ prefix (tar -C dir .) is accepted", async () => {
  const env = makeRackEnv();
  const archive = await makePackage({
    tar: { prefix: "./", extra: [{ path: "templates/", type: "directory" }] },
  });
  assert.equal((await upload(env, archive)).status, 201);
});

Deno.test("a duplicate version answers 409 VERSION_EXISTS", async () => {
  const env = makeRackEnv();
  const archive = await makePackage();
  assert.equal((await upload(env, archive)).status, 201);
  await expectError(
    await upload(
      env,
      await makePackage({ files: { ...TEMPLATE_FILES, "templates/setup.ts": "changed" } }),
    ),
    409,
    "VERSION_EXISTS",
    "Registry @rack/quality/husky@1.0.0 already exists",
  );
  const file = await env.app.request(
    "/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts",
  );
  assert.equal(await file.text(), TEMPLATE_FILES["templates/setup.ts"]);
});

Deno.test("20 concurrent uploads of one version give exactly one 201 and 19 409s", async () => {
  const env = makeRackEnv();
  const archives = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => makePackage({ files: { ...TEMPLATE_FILES, "templates/setup.ts": `v${i}` } }),
    ),
  );
  const responses = await Promise.all(archives.map((a) => upload(env, a)));
  const statuses = responses.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, ...Array(19).fill(409)]);
  const winner = archives[responses.findIndex((r) => r.status === 201)]!;
  for (const r of responses) await r.body?.cancel();
  // The winner's bytes, and only the winner's, are visible.
  const body =
    await (await env.app.request("/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts"))
      .text();
  const index = archives.indexOf(winner);
  assert.equal(body, `v${index}`);
  const pkg = (await env.ctx.storage.list(["pkg"])).items[0]!.value as { versionCount: number };
  assert.equal(pkg.versionCount, 1);
  assert.equal((await env.ctx.storage.list(["audit"])).items.length, 1);
});

Deno.test("an upload without a token is refused with 401 before its body is read", async () => {
  const env = makeRackEnv();
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull() {
      pulled = true;
      throw new Error("Body must not be read");
    },
  }, { highWaterMark: 0 });
  const res = await env.app.request(
    new Request("http://x/registries", {
      method: "POST",
      body,
      duplex: "half",
      headers: { "content-type": "multipart/form-data; boundary=abc" },
    } as RequestInit),
  );
  await expectError(
    res,
    401,
    "UNAUTHORIZED",
    "Authentication required for upload. Provide a namespace token or admin token via Authorization or X-Registry-Token.",
  );
  assert.equal(pulled, false);
});

Deno.test("tokens that could publish nowhere are refused before the body is read", async () => {
  const env = makeRackEnv();
  const cases: [string, number, string][] = [
    ["unknown", 401, "INVALID_TOKEN"],
    ["dev-token", 403, "INSUFFICIENT_PERMISSIONS"],
    ["old-token", 401, "TOKEN_EXPIRED"],
  ];
  for (const [token, status, code] of cases) {
    let pulled = false;
    const body = new ReadableStream<Uint8Array>({
      pull() {
        pulled = true;
        throw new Error("Body must not be read");
      },
    }, { highWaterMark: 0 });
    const res = await env.app.request(
      new Request("http://x/registries", {
        method: "POST",
        body,
        duplex: "half",
        headers: {
          "content-type": "multipart/form-data; boundary=abc",
          authorization: `Bearer ${token}`,
        },
      } as RequestInit),
    );
    await expectError(res, status, code);
    assert.equal(pulled, false, token);
  }
});

Deno.test("content types: unparseable → 415 before auth, non-multipart → 406, no file → 400 MISSING_FILE", async () => {
  const env = makeRackEnv();
  await expectError(
    await env.app.request("/registries", {
      method: "POST",
      body: "x",
      headers: { "content-type": "application/xml" },
    }),
    415,
    "FST_ERR_CTP_INVALID_MEDIA_TYPE",
  );
  await expectError(
    await env.app.request("/registries", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
    }),
    406,
    "FST_INVALID_MULTIPART_CONTENT_TYPE",
    "the request is not multipart",
  );
  const form = new FormData();
  form.append("checksum", "abc");
  await expectError(
    await env.app.request(
      new Request("http://x/registries", {
        method: "POST",
        body: form,
        headers: { authorization: `Bearer ${ADMIN}` },
      }),
    ),
    400,
    "MISSING_FILE",
    "No file uploaded",
  );
  await assertNoTrace(env);
});

Deno.test("a file part of another MIME type is refused with INVALID_FILE_TYPE", async () => {
  const env = makeRackEnv();
  await expectError(
    await upload(env, await makePackage(), { type: "text/plain" }),
    400,
    "INVALID_FILE_TYPE",
    "File must be a tar.gz archive",
  );
  await assertNoTrace(env);
});

Deno.test("413 as soon as Content-Length exceeds the limit, and while streaming without one", async () => {
  const env = makeRackEnv({ maxUploadBytes: 1024 });
  let pulled = false;
  const res = await env.app.request(
    new Request("http://x/registries", {
      method: "POST",
      body: new ReadableStream({
        pull() {
          pulled = true;
          throw new Error("Body must not be read");
        },
      }, { highWaterMark: 0 }),
      duplex: "half",
      headers: {
        "content-type": "multipart/form-data; boundary=abc",
        "content-length": String(10 * 1024 * 1024),
        authorization: `Bearer ${ADMIN}`,
      },
    } as RequestInit),
  );
  await expectError(res, 413, "FST_REQ_FILE_TOO_LARGE", "request file too large");
  assert.equal(pulled, false);
  // No Content-Length: the archive part is cut off at the limit while streaming.
  const big = crypto.getRandomValues(new Uint8Array(4096));
  const stream = multipartStream({
    boundary: "b0undary",
    fields: { checksum: sha256Hex(big) },
    file: new Blob([big]).stream(),
  });
  const streamed = await env.app.request(
    new Request("http://x/registries", {
      method: "POST",
      body: stream,
      duplex: "half",
      headers: {
        "content-type": "multipart/form-data; boundary=b0undary",
        authorization: `Bearer ${ADMIN}`,
      },
    } as RequestInit),
  );
  await expectError(streamed, 413, "FST_REQ_FILE_TOO_LARGE");
  await assertNoTrace(env);
});

Deno.test("checksum: missing → MISSING_CHECKSUM, different or uppercase → CHECKSUM_MISMATCH with expected/actual", async () => {
  const env = makeRackEnv();
  const archive = await makePackage();
  const actual = sha256Hex(archive);
  await expectError(
    await upload(env, archive, { checksum: null }),
    400,
    "MISSING_CHECKSUM",
    "SHA256 checksum is required for upload verification",
  );
  await expectError(await upload(env, archive, { checksum: "" }), 400, "MISSING_CHECKSUM");
  const body = await expectError(
    await upload(env, archive, { checksum: "0".repeat(64) }),
    400,
    "CHECKSUM_MISMATCH",
    "Checksum verification failed",
  );
  assert.deepEqual(body, {
    code: "CHECKSUM_MISMATCH",
    message: "Checksum verification failed",
    expected: "0".repeat(64),
    actual,
  });
  await expectError(
    await upload(env, archive, { checksum: actual.toUpperCase() }),
    400,
    "CHECKSUM_MISMATCH",
  );
  await assertNoTrace(env);
});

Deno.test("archives that are not tar.gz, truncated gzip streams and unsafe paths are INVALID_ARCHIVE with generic text", async () => {
  const env = makeRackEnv();
  const cases: [string, Uint8Array][] = [
    ["plain bytes", new TextEncoder().encode("not a tarball at all")],
    ["truncated gzip", await makePackage({ tar: { truncateBy: 20 } })],
    ["gzip missing its last byte", await makePackage({ tar: { truncateBy: 1 } })],
    ["gzip missing its trailer", await makePackage({ tar: { truncateBy: 8 } })],
    ["gzip of garbage", await gzip(crypto.getRandomValues(new Uint8Array(2048)))],
    [
      "a ../ entry",
      await makePackage({ tar: { extra: [{ path: "../escape.txt", content: "x" }] } }),
    ],
    [
      "a nested ../ entry",
      await makePackage({ tar: { extra: [{ path: "templates/../../x", content: "x" }] } }),
    ],
    [
      "an absolute path",
      await makePackage({ tar: { extra: [{ path: "/etc/cron.d/x", content: "x" }] } }),
    ],
  ];
  for (const [label, archive] of cases) {
    const body = await expectError(await upload(env, archive), 400, "INVALID_ARCHIVE");
    assert.equal(body.message, "Uploaded file is not a valid tar.gz archive", label);
  }
  await assertNoTrace(env);
});

Deno.test("links and devices are UNSAFE_FILE; declaring a symlink is FILE_NOT_FOUND", async () => {
  const env = makeRackEnv();
  const cases: [string, Uint8Array, string, string][] = [
    [
      "symlink",
      await makePackage({
        tar: { extra: [{ path: "templates/evil", type: "symlink", target: "/etc/passwd" }] },
      }),
      "UNSAFE_FILE",
      "Package contains an unsupported entry type at templates/evil (only regular files and directories are allowed)",
    ],
    [
      "hard link",
      await makePackage({
        tar: { extra: [{ path: "templates/hard", type: "link", target: "registry.json" }] },
      }),
      "UNSAFE_FILE",
      "Package contains an unsupported entry type at templates/hard (only regular files and directories are allowed)",
    ],
    [
      "device",
      await makePackage({ tar: { extra: [{ path: "dev/null", type: "char-device" }] } }),
      "UNSAFE_FILE",
      "Package contains an unsupported entry type at dev/null (only regular files and directories are allowed)",
    ],
    [
      "declared symlink",
      await makeTarball(
        { "registry.json": JSON.stringify(makeItem()), "templates/setup.ts": "x" },
        {
          extra: [{
            path: "templates/.husky/commit-msg",
            type: "symlink",
            target: "../../setup.ts",
          }],
        },
      ),
      "FILE_NOT_FOUND",
      "File referenced in registry.json is missing or not a regular file: templates/.husky/commit-msg",
    ],
  ];
  for (const [label, archive, code, message] of cases) {
    await expectError(await upload(env, archive), 400, code, message);
    assert.ok(label);
  }
  await assertNoTrace(env);
});

Deno.test("declared files must be present; undeclared files are refused", async () => {
  const env = makeRackEnv();
  await expectError(
    await upload(env, await makePackage({ files: { "templates/setup.ts": "x" } })),
    400,
    "FILE_NOT_FOUND",
    "File referenced in registry.json is missing or not a regular file: templates/.husky/commit-msg",
  );
  await expectError(
    await upload(env, await makePackage({ files: { ...TEMPLATE_FILES, "._setup.ts": "mac" } })),
    400,
    "UNDECLARED_FILE",
    "Package contains a file not declared in registry.json: ._setup.ts",
  );
  await expectError(
    await upload(env, await makePackage({ files: { ...TEMPLATE_FILES, "odd name.txt": "x" } })),
    400,
    "UNDECLARED_FILE",
    "Package contains a file not declared in registry.json: odd name.txt",
  );
  // A custom merge script and language files count as declared.
  const item = makeItem({
    files: [{
      path: "templates/setup.ts",
      target: "s.ts",
      type: "registry:script",
      mergeStrategy: { type: "custom", script: "./merge/setup.js" },
    }],
    languages: {
      js: { files: [{ path: "templates/setup.js", target: "s.js", type: "registry:script" }] },
    },
  });
  const ok = await makePackage({
    item,
    files: { "templates/setup.ts": "a", "merge/setup.js": "b", "templates/setup.js": "c" },
  });
  assert.equal((await upload(env, ok)).status, 201);
});

Deno.test("a file target that would leave the project of whoever installs it is UPLOAD_FAILED and stores nothing", async () => {
  const env = makeRackEnv();
  const withTarget = (target: string, where: "files" | "languages" = "files") => {
    const entry = { path: "templates/setup.ts", target, type: "registry:script" };
    return makePackage({
      item: where === "files"
        ? makeItem({ files: [entry] })
        : makeItem({ files: [], languages: { ts: { files: [entry] } } }),
      files: { "templates/setup.ts": "x" },
    });
  };
  for (
    const target of [
      "../x",
      "a/../../x",
      "/etc/passwd",
      "~/../x",
      "..\\x",
      "C:\\x",
      "c:x",
      "a\u0000b",
    ]
  ) {
    await expectError(
      await upload(env, await withTarget(target)),
      400,
      "UPLOAD_FAILED",
      /must stay inside the project/,
    );
  }
  await expectError(
    await upload(env, await withTarget("../x", "languages")),
    400,
    "UPLOAD_FAILED",
    /file target "\.\.\/x" must stay inside the project/,
  );
  await assertNoTrace(env);
  // Project-relative targets, `~/` meaning the project root, are what packages use.
  for (
    const [i, target] of ["~/components/button.tsx", ".husky/commit-msg", "./a/b.ts"].entries()
  ) {
    const item = makeItem({
      version: `1.0.${i}`,
      files: [{ path: "templates/setup.ts", target, type: "registry:script" }],
    });
    const ok = await upload(env, await makePackage({ item, files: { "templates/setup.ts": "x" } }));
    assert.equal(ok.status, 201, target);
    await ok.body?.cancel();
  }
});

Deno.test("registry.json problems are UPLOAD_FAILED with the spec's messages, in order", async () => {
  const env = makeRackEnv();
  const cases: [Uint8Array, string][] = [
    [await makeTarball({ "templates/setup.ts": "x" }), "registry.json not found in package"],
    // A lone top-level folder holding registry.json is unwrapped (docs/rack.md); one with a sibling is not.
    [
      await makeTarball({ "sub/registry.json": "{}", "readme.md": "x" }),
      "registry.json not found in package",
    ],
    [await makeTarball({ "registry.json": "{nope" }), "registry.json is not valid JSON"],
    [await makeTarball({ "registry.json": "{}" }), "namespace is required in registry.json"],
    [
      await makeTarball({ "registry.json": '{"namespace":"@rack","name":""}' }),
      "name is required in registry.json",
    ],
    [
      await makeTarball({ "registry.json": '{"namespace":"@rack","name":"x","version":1}' }),
      "version is required in registry.json",
    ],
    [
      await makePackage({ item: makeItem({ path: "quality/other" }) }),
      'path "quality/other" must end with name "husky"',
    ],
  ];
  for (const [archive, message] of cases) {
    await expectError(await upload(env, archive), 400, "UPLOAD_FAILED", message);
  }
  await assertNoTrace(env);
});

Deno.test("the real namespace decides: undeclared, anonymous, other-namespace, expired and read-only tokens", async () => {
  const env = makeRackEnv();
  await expectError(
    await upload(env, await makePackage({ item: makeItem({ namespace: "@ghost" }) })),
    403,
    "NAMESPACE_NOT_ALLOWED",
    "Namespace @ghost is not allowed",
  );
  await expectError(
    await upload(env, await makePackage(), { token: "ci-token" }),
    403,
    "ANONYMOUS_UPLOAD_FORBIDDEN",
    "Anonymous namespaces do not allow uploads. Use an admin token or configure namespace tokens.",
  );
  const company = await makePackage({ item: makeItem({ namespace: "@company" }) });
  await expectError(await upload(env, company, { token: "other-token" }), 401, "INVALID_TOKEN");
  env.setAuth({
    "@company": [{ token: "ci-token", publish: true }, { token: "ro", mark: "ro" }],
    "@other": [{ token: "ro", publish: true }],
  });
  await expectError(
    await upload(env, company, { token: "ro" }),
    403,
    "INSUFFICIENT_PERMISSIONS",
    "Token does not have publish permission for namespace @company",
  );
  env.setAuth({
    "@company": [{ token: "ci-token", publish: true, expiresAt: "2000-01-01T00:00:00Z" }],
    "@other": [{ token: "ci-token", publish: true }],
  });
  await expectError(await upload(env, company, { token: "ci-token" }), 401, "TOKEN_EXPIRED");
  env.setAuth(AUTH_JSON);
  await assertNoTrace(env);
});

Deno.test("a schema violation is SCHEMA_VALIDATION_FAILED carrying the validator's errors", async () => {
  const env = makeRackEnv();
  const body = await expectError(
    await upload(env, await makePackage({ item: makeItem({ priority: -1, extra: true }) })),
    400,
    "SCHEMA_VALIDATION_FAILED",
  );
  assert.ok(body.message.startsWith("Schema validation failed: ["));
  const errors = JSON.parse(body.message.slice("Schema validation failed: ".length));
  assert.deepEqual(errors.map((e: { keyword: string }) => e.keyword).sort(), [
    "additionalProperties",
    "minimum",
  ]);
  await assertNoTrace(env);
});

Deno.test("a package name taken by another format refuses uploads with 409 FORMAT_CONFLICT and stays 404 to reads", async () => {
  const env = makeRackEnv();
  const now = new Date().toISOString();
  await putVersionIfAbsent(env.ctx.storage, {
    row: {
      namespace: "@rack",
      name: "husky",
      version: "1.0.0",
      format: "ggui.gadget",
      visibility: "public",
      files: {},
      facts: {},
      publishedAt: now,
      publishedBy: "alice",
    },
    updatePackage: (current, state) =>
      nextPackageRow(current, state, { ref: { namespace: "@rack", name: "husky" } }),
  });
  await expectError(
    await upload(env, await makePackage({ item: makeItem({ path: "husky" }) })),
    409,
    "FORMAT_CONFLICT",
  );
  for (
    const path of [
      "/registries/@rack/husky",
      "/registries/@rack/husky/versions",
      "/registries/@rack/husky/1.0.0",
    ]
  ) {
    await expectError(await env.app.request(path), 404, "NOT_FOUND", "Resource not found");
  }
  await expectError(
    await env.app.request("/namespaces/@rack/registries"),
    404,
    "NAMESPACE_NOT_FOUND",
  );
});

Deno.test("webhook outbox rows land in the same commit as the version", async () => {
  const env = makeRackEnv({
    subscriptions: [
      {
        id: "a1",
        url: "https://hooks.example/a",
        secret: "s",
        events: ["uploaded", "version.created"],
        enabled: true,
      },
      {
        id: "b2",
        url: "https://hooks.example/b",
        secret: "s",
        events: ["uploaded"],
        enabled: false,
      },
    ],
  });
  await expectError(
    await upload(env, await makePackage(), { checksum: "0".repeat(64) }),
    400,
    "CHECKSUM_MISMATCH",
  );
  assert.equal((await env.ctx.storage.list(["outbox"])).items.length, 0);
  assert.equal((await upload(env, await makePackage())).status, 201);
  const rows = (await env.ctx.storage.list(["outbox"])).items.map((e) =>
    e.value as { event: string; body: string }
  );
  assert.deepEqual(rows.map((r) => r.event), ["uploaded", "version.created"]);
  const payload = JSON.parse(rows[0]!.body);
  assert.deepEqual(Object.keys(payload), [
    "event",
    "name",
    "version",
    "namespace",
    "timestamp",
    "path",
  ]);
  assert.equal(payload.path, "@rack/quality/husky/1.0.0");
});

Deno.test("a zip bomb (1 GiB of zeros) is refused with 413 ARCHIVE_TOO_LARGE in bounded memory", async () => {
  const env = makeRackEnv();
  const GiB = 1024 * 1024 * 1024;
  const chunk = new Uint8Array(1024 * 1024);
  let sent = -1;
  const tar = new ReadableStream<BufferSource>({
    pull(c) {
      if (sent === -1) {
        c.enqueue(tarHeader("registry.json", { size: GiB }) as Uint8Array<ArrayBuffer>);
      } else if (sent < 1024) c.enqueue(chunk);
      else {
        c.enqueue(new Uint8Array(1024));
        return c.close();
      }
      sent++;
    },
  });
  const bomb = new Uint8Array(
    await new Response(tar.pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  assert.ok(bomb.byteLength < 2 * 1024 * 1024);
  // Isolate-scoped memory (V8 heap + array buffers), sampled while the upload runs.
  const used = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  let peak = before;
  const sampler = setInterval(() => peak = Math.max(peak, used()), 1);
  let res: Response;
  try {
    res = await upload(env, bomb);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, used());
  const grown = peak - before;
  await expectError(res, 413, "ARCHIVE_TOO_LARGE");
  assert.ok(grown < 128 * 1024 * 1024, `memory grew by ${grown} bytes`);
  await assertNoTrace(env);
});

Deno.test("caps on unpacked bytes, entry count and path depth stop an archive at the first violation", async () => {
  const env = makeRackEnv({
    limits: {
      maxUnpackedBytes: 64 * 1024,
      maxEntries: 20,
      maxPathDepth: 4,
      maxFileBytes: 16 * 1024,
    },
  });
  const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}.txt`, "x"]));
  await expectError(
    await upload(env, await makePackage({ files: many })),
    413,
    "ARCHIVE_TOO_LARGE",
    /more than 20 entries/,
  );
  const deep = await makePackage({ files: { "a/b/c/d/e/f.txt": "x" } });
  await expectError(await upload(env, deep), 413, "ARCHIVE_TOO_LARGE", /nesting exceeds 4/);
  const bigFile = await makePackage({ files: { "big.bin": new Uint8Array(20 * 1024) } });
  await expectError(await upload(env, bigFile), 413, "ARCHIVE_TOO_LARGE", /exceeds 16384 bytes/);
  const total = Object.fromEntries(
    Array.from({ length: 6 }, (_, i) => [`p${i}.bin`, new Uint8Array(15 * 1024)]),
  );
  await expectError(
    await upload(env, await makePackage({ files: total })),
    413,
    "ARCHIVE_TOO_LARGE",
    /unpacked size/,
  );
  await assertNoTrace(env);
});

/** How many blobs bundle storage holds. */
async function blobCount(env: RackTestEnv): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await env.ctx.bundles.list(cursor ? { cursor } : {});
    count += page.items.length;
    cursor = page.cursor;
  } while (cursor);
  return count;
}

Deno.test("tar entries that land on one path are INVALID_ARCHIVE naming the path, and nothing is stored", async () => {
  const env = makeRackEnv();
  const registryJson = JSON.stringify(makeItem());
  const commitMsg = TEMPLATE_FILES["templates/.husky/commit-msg"]!;
  const cases: [string, { path: string; content: string }[], string][] = [
    [
      "an alias written later",
      [
        { path: "templates/setup.ts", content: "FIRST" },
        { path: "./templates//setup.ts", content: "SECOND" },
      ],
      "The archive holds templates/setup.ts twice",
    ],
    [
      "the same name twice",
      [
        { path: "templates/setup.ts", content: "FIRST" },
        { path: "templates/setup.ts", content: "SECOND" },
      ],
      "The archive holds templates/setup.ts twice",
    ],
    [
      "names that differ only in case",
      [
        { path: "templates/setup.ts", content: "FIRST" },
        { path: "templates/Setup.ts", content: "SECOND" },
      ],
      "The archive holds templates/setup.ts and templates/Setup.ts, which differ only in case",
    ],
    [
      "a file where another file needs a folder",
      [
        { path: "templates/setup.ts", content: "FIRST" },
        { path: "templates/setup.ts/x", content: "SECOND" },
      ],
      "The archive holds templates/setup.ts both as a file and as a folder (templates/setup.ts/x)",
    ],
  ];
  for (const [label, entries, message] of cases) {
    const before = await blobCount(env);
    const archive = await makeTarball([
      { path: "registry.json", content: registryJson },
      { path: "templates/.husky/commit-msg", content: commitMsg },
      ...entries,
    ]);
    await expectError(await upload(env, archive), 400, "INVALID_ARCHIVE", message);
    // The archive was stored, then dropped with the refusal.
    assert.equal(await blobCount(env), before, `${label}: nothing is stored`);
  }
  // A second registry.json could carry another namespace than the one validated.
  const twoManifests = await makeTarball([
    { path: "registry.json", content: registryJson },
    { path: "./registry.json", content: JSON.stringify(makeItem({ namespace: "@company" })) },
  ]);
  await expectError(
    await upload(env, twoManifests),
    400,
    "INVALID_ARCHIVE",
    "The archive holds registry.json twice",
  );
  await assertNoTrace(env);
  await expectError(
    await env.app.request("/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts"),
    404,
    "NOT_FOUND",
  );
  // Repeated directory entries are harmless.
  const dirs = await makePackage({
    tar: {
      extra: [
        { path: "templates/", type: "directory" },
        { path: "./templates", type: "directory" },
        { path: "templates//", type: "directory" },
      ],
    },
  });
  assert.equal((await upload(env, dirs)).status, 201);
});

Deno.test("a description over 2048 characters is UPLOAD_FAILED, not a 500, and stores nothing", async () => {
  const env = makeRackEnv();
  const before = await blobCount(env);
  await expectError(
    await upload(env, await makePackage({ item: makeItem({ description: "x".repeat(100_000) }) })),
    400,
    "UPLOAD_FAILED",
    "description in registry.json is 100000 characters long; the limit is 2048",
  );
  // The archive was stored, then dropped with the refusal.
  assert.equal(await blobCount(env), before, "nothing is stored");
  await assertNoTrace(env);
  // Characters, not UTF-16 units or bytes: 2048 emoji fit.
  const description = "🐶".repeat(2048);
  const ok = await upload(env, await makePackage({ item: makeItem({ description }) }));
  assert.equal(ok.status, 201, await ok.clone().text());
  const ver = (await env.ctx.storage.list(["ver"])).items[0]!.value as {
    facts: { description: string };
  };
  assert.equal(ver.facts.description, description);
  await expectError(
    await upload(
      env,
      await makePackage({ item: makeItem({ version: "1.0.1", description: `${description}x` }) }),
    ),
    400,
    "UPLOAD_FAILED",
    "description in registry.json is 2049 characters long; the limit is 2048",
  );
});

Deno.test("overlong names, versions and paths in registry.json are UPLOAD_FAILED with short messages", async () => {
  const env = makeRackEnv();
  const cases: [Record<string, unknown>, string][] = [
    [{ name: "a".repeat(70_000) }, "name in registry.json is longer than 64 characters"],
    [
      { namespace: `@${"a".repeat(3000)}` },
      "namespace in registry.json is longer than 65 characters",
    ],
    [
      { version: `1.0.0-${"a".repeat(3000)}` },
      "version in registry.json is longer than 128 characters",
    ],
    [
      { path: `${"a".repeat(3000)}/husky` },
      "path in registry.json has a segment longer than 64 characters",
    ],
    [
      { path: `${Array(9).fill("a").join("/")}/husky` },
      "path in registry.json has more than 8 segments",
    ],
  ];
  for (const [overrides, message] of cases) {
    await expectError(
      await upload(env, await makePackage({ item: makeItem(overrides) })),
      400,
      "UPLOAD_FAILED",
      message,
    );
  }
  // Values echoed in messages are cut short.
  const target = `../${"x".repeat(100_000)}`;
  const body = await expectError(
    await upload(
      env,
      await makePackage({
        item: makeItem({
          files: [{ path: "templates/setup.ts", target, type: "registry:script" }],
        }),
        files: { "templates/setup.ts": "x" },
      }),
    ),
    400,
    "UPLOAD_FAILED",
    /^file target "\.\.\/x+…" must stay inside the project/,
  );
  assert.ok(body.message.length < 400, `${body.message.length} characters`);
  await assertNoTrace(env);
});

Deno.test("a schema violation with 300 000 problems answers a small body listing 20 of them", async () => {
  const env = makeRackEnv();
  const prefix = "Schema validation failed: ";
  // Compact JSON: 300 000 empty tags fit in registry.json's 1 MiB.
  const huge = await makeTarball({
    "registry.json": JSON.stringify(makeItem({ tags: Array(300_000).fill("") })),
    ...TEMPLATE_FILES,
  });
  assert.ok(huge.byteLength < 16 * 1024);
  let res = await upload(env, huge);
  let text = await res.clone().text();
  assert.ok(text.length < 4096, `${text.length} bytes`);
  let body = await expectError(res, 400, "SCHEMA_VALIDATION_FAILED");
  assert.ok(body.message.startsWith(`${prefix}[`));
  assert.ok(
    body.message.endsWith(
      "] (only the first problem is listed: registry.json holds more than 10000 values)",
    ),
    body.message,
  );
  const first = JSON.parse(body.message.slice(prefix.length, body.message.lastIndexOf("]") + 1));
  assert.deepEqual(first.map((p: { instancePath: string }) => p.instancePath), ["/tags/0"]);
  // A smaller document lists its first 20 problems and counts the rest.
  res = await upload(
    env,
    await makePackage({ item: makeItem({ tags: Array(100).fill(""), ["k".repeat(50_000)]: 1 }) }),
  );
  text = await res.clone().text();
  assert.ok(text.length < 8192, `${text.length} bytes`);
  body = await expectError(res, 400, "SCHEMA_VALIDATION_FAILED");
  assert.ok(body.message.endsWith("] (and 81 more problems)"), body.message.slice(-100));
  const listed = JSON.parse(body.message.slice(prefix.length, body.message.lastIndexOf("]") + 1));
  assert.equal(listed.length, 20);
  // Long strings from the document (here a property name) are cut.
  for (const p of listed) assert.ok(JSON.stringify(p).length < 800);
  await assertNoTrace(env);
});

Deno.test("a refused upload stores no file of its archive, whatever the reason", async () => {
  const env = makeRackEnv();
  const other = makeItem({ namespace: "@other", files: [] });
  const cases: [string, Uint8Array, string, number, string][] = [
    [
      // A publish token of @company may not make the server store files for @other.
      "an unauthorized namespace, registry.json last",
      await makeTarball([
        { path: "templates/big.bin", content: crypto.getRandomValues(new Uint8Array(64 * 1024)) },
        { path: "registry.json", content: JSON.stringify(other) },
      ]),
      "ci-token",
      401,
      "INVALID_TOKEN",
    ],
    [
      "a schema violation",
      await makePackage({ item: makeItem({ namespace: "@company", priority: -1 }) }),
      "ci-token",
      400,
      "SCHEMA_VALIDATION_FAILED",
    ],
    [
      "an undeclared file",
      await makePackage({
        item: makeItem({ namespace: "@company" }),
        files: { ...TEMPLATE_FILES, "extra.txt": "x" },
      }),
      "ci-token",
      400,
      "UNDECLARED_FILE",
    ],
    [
      "a missing declared file",
      await makePackage({
        item: makeItem({ namespace: "@company" }),
        files: { "templates/setup.ts": "only one" },
      }),
      "ci-token",
      400,
      "FILE_NOT_FOUND",
    ],
  ];
  for (const [label, archive, token, status, code] of cases) {
    const before = await blobCount(env);
    await expectError(await upload(env, archive, { token }), status, code);
    // The archive was stored, then dropped with the refusal.
    assert.equal(await blobCount(env), before, `${label}: nothing is stored`);
  }
  await assertNoTrace(env);
  // A success stores the archive, registry.json and each template; a retry of
  // the same version with other files stores nothing (its archive and new
  // file are dropped with the refusal).
  const item = makeItem({ namespace: "@company" });
  let before = await blobCount(env);
  assert.equal((await upload(env, await makePackage({ item }), { token: "ci-token" })).status, 201);
  assert.equal(await blobCount(env), before + 4);
  before = await blobCount(env);
  await expectError(
    await upload(
      env,
      await makePackage({ item, files: { ...TEMPLATE_FILES, "templates/setup.ts": "changed" } }),
      { token: "ci-token" },
    ),
    409,
    "VERSION_EXISTS",
  );
  assert.equal(await blobCount(env), before);
});

Deno.test("files written before registry.json in the archive are stored and served", async () => {
  const env = makeRackEnv();
  // Bodies of several chunks on both reads, a large registry.json last.
  const binary = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const item = makeItem({
    author: btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(60 * 1024)))),
    files: [
      ...(makeItem().files as unknown[]),
      { path: "assets/blob.bin", target: "b", type: "registry:asset" },
    ],
  });
  const archive = await makeTarball([
    { path: "templates/setup.ts", content: "SETUP" },
    { path: "assets/blob.bin", content: binary },
    { path: "./templates/.husky/commit-msg", content: "HOOK" },
    { path: "registry.json", content: JSON.stringify(item) },
  ]);
  const res = await upload(env, archive);
  assert.equal(res.status, 201, await res.text());
  const base = "/registries/@rack/quality/husky/1.0.0";
  assert.equal(await (await env.app.request(`${base}/files/templates/setup.ts`)).text(), "SETUP");
  assert.equal(
    await (await env.app.request(`${base}/files/templates/.husky/commit-msg`)).text(),
    "HOOK",
  );
  const blob = await env.app.request(`${base}/files/assets/blob.bin`);
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), binary);
  assert.deepEqual(await (await env.app.request(base)).json(), item);
});
