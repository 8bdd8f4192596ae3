// The Rack surface over a real port: Deno.serve + fetch, real tar.gz bytes,
// memory storage (main.ts-level end-to-end tests with KV belong to the app).
import assert from "node:assert/strict";
import { Hono } from "hono";
import { sha256Hex } from "../base/digest.ts";
import {
  ADMIN,
  makeItem,
  makePackage,
  makeRackEnv,
  multipartStream,
  tarHeader,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";

function serve() {
  const env = makeRackEnv();
  const app = new Hono().route("/", env.app);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    env,
    url,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

Deno.test("over a real port: upload, list, latest, byte-exact files, duplicate 409", async () => {
  await using s = serve();
  const binary = crypto.getRandomValues(new Uint8Array(10 * 1024));
  const files = { ...TEMPLATE_FILES, "assets/blob.bin": binary };
  const fileList = [...(makeItem().files as unknown[]), {
    path: "assets/blob.bin",
    target: "b",
    type: "registry:asset",
  }];
  for (const version of ["1.0.0", "1.1.0-rc.1"]) {
    const archive = await makePackage({ item: makeItem({ version, files: fileList }), files });
    const res = await fetch(uploadRequest(archive, { token: ADMIN, url: s.url }));
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal((await res.json()).path, `@rack/quality/husky/${version}`);
  }
  const versions = await fetch(`${s.url}/registries/@rack/quality/husky/versions`);
  assert.deepEqual(await versions.json(), { versions: ["1.1.0-rc.1", "1.0.0"] });
  const latest = await fetch(`${s.url}/registries/@rack/quality/husky`);
  assert.equal((await latest.json()).version, "1.0.0");
  const file = await fetch(`${s.url}/registries/@rack/quality/husky/1.0.0/files/assets/blob.bin`);
  assert.equal(file.headers.get("content-length"), String(binary.byteLength));
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), binary);
  const head = await fetch(`${s.url}/registries/@rack/quality/husky/1.0.0/files/assets/blob.bin`, {
    method: "HEAD",
  });
  assert.equal(head.headers.get("content-length"), String(binary.byteLength));
  assert.equal(head.headers.get("etag"), `"${sha256Hex(binary)}"`);
  await head.body?.cancel();
  const dup = await fetch(
    uploadRequest(await makePackage({ item: makeItem({ files: fileList }), files }), {
      token: ADMIN,
      url: s.url,
    }),
  );
  assert.equal(dup.status, 409);
  assert.equal((await dup.json()).code, "VERSION_EXISTS");
});

Deno.test("over a real port: 20 concurrent uploads of one version → exactly one 201", async () => {
  await using s = serve();
  const archives = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => makePackage({ files: { ...TEMPLATE_FILES, "templates/setup.ts": `n${i}` } }),
    ),
  );
  const statuses = await Promise.all(archives.map(async (a) => {
    const res = await fetch(uploadRequest(a, { token: ADMIN, url: s.url }));
    await res.body?.cancel();
    return res.status;
  }));
  assert.equal(statuses.filter((x) => x === 201).length, 1);
  assert.equal(statuses.filter((x) => x === 409).length, 19);
});

Deno.test("over a real port: no token → 401, bad archives → their codes, nothing visible", async () => {
  await using s = serve();
  const good = await makePackage();
  const noToken = await fetch(uploadRequest(good, { url: s.url }));
  assert.equal(noToken.status, 401);
  assert.equal((await noToken.json()).code, "UNAUTHORIZED");
  const cases: [Uint8Array, string][] = [
    [await makePackage({ tar: { extra: [{ path: "../x", content: "x" }] } }), "INVALID_ARCHIVE"],
    [await makePackage({ tar: { extra: [{ path: "/x", content: "x" }] } }), "INVALID_ARCHIVE"],
    [
      await makePackage({ tar: { extra: [{ path: "l", type: "symlink", target: "/etc" }] } }),
      "UNSAFE_FILE",
    ],
    [await makePackage({ files: { ...TEMPLATE_FILES, "extra.txt": "x" } }), "UNDECLARED_FILE"],
    [await makePackage({ item: makeItem({ type: "registry:nope" }) }), "SCHEMA_VALIDATION_FAILED"],
    [await makePackage({ tar: { truncateBy: 10 } }), "INVALID_ARCHIVE"],
  ];
  for (const [archive, code] of cases) {
    const res = await fetch(uploadRequest(archive, { token: ADMIN, url: s.url }));
    assert.equal((await res.json()).code, code);
  }
  const mismatch = await fetch(
    uploadRequest(good, { token: ADMIN, url: s.url, checksum: "f".repeat(64) }),
  );
  assert.equal((await mismatch.json()).code, "CHECKSUM_MISMATCH");
  const list = await fetch(`${s.url}/registries/@rack/quality/husky/versions`);
  assert.equal(list.status, 404);
  await list.body?.cancel();
  assert.deepEqual((await s.env.ctx.storage.list(["ver"])).items, []);
});

Deno.test("over a real port: a streamed 1 GiB-of-zeros bomb is refused with 413", async () => {
  await using s = serve();
  const chunk = new Uint8Array(1024 * 1024);
  let sent = -1;
  const tar = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(c) {
      if (sent === -1) {
        c.enqueue(
          tarHeader("templates/zeros.bin", { size: 1024 * 1024 * 1024 }) as Uint8Array<ArrayBuffer>,
        );
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
  const body = multipartStream({
    boundary: "xyz",
    fields: { checksum: sha256Hex(bomb) },
    file: new Blob([bomb]).stream(),
  });
  const res = await fetch(`${s.url}/registries`, {
    method: "POST",
    body,
    headers: {
      "content-type": "multipart/form-data; boundary=xyz",
      authorization: `Bearer ${ADMIN}`,
    },
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).code, "ARCHIVE_TOO_LARGE");
});

/** Send only the head of a request over a raw socket and read the response head. */
async function headOnly(port: number, headers: Record<string, string>): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = [
      "POST /registries HTTP/1.1",
      "Host: 127.0.0.1",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    // No body byte is ever sent: the answer must come without it.
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.includes('"}')) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("over a real socket: no token → 401 and an oversized Content-Length → 413 before any body byte is sent", async () => {
  await using s = serve();
  const port = Number(new URL(s.url).port);
  const base = {
    "content-type": "multipart/form-data; boundary=abc",
    "content-length": String(50 * 1024 * 1024),
  };
  const anonymous = await headOnly(port, base);
  assert.match(anonymous, /^HTTP\/1\.1 401 /);
  assert.match(anonymous, /"code":"UNAUTHORIZED"/);
  const readOnly = await headOnly(port, { ...base, authorization: "Bearer dev-token" });
  assert.match(readOnly, /^HTTP\/1\.1 403 /);
  const tooBig = await headOnly(port, {
    ...base,
    "content-length": String(200 * 1024 * 1024),
    authorization: `Bearer ${ADMIN}`,
  });
  assert.match(tooBig, /^HTTP\/1\.1 413 /);
  assert.match(tooBig, /"code":"FST_REQ_FILE_TOO_LARGE"/);
});
