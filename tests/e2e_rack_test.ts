// End to end for the Rack surface: main.ts on a real port, configured through
// the original Rack environment (AUTH_CONFIG_PATH, ADMIN_TOKEN), real tar.gz
// archives uploaded as curl -F would, hot-reloaded auth.json.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { makeItem, makePackage, TEMPLATE_FILES, uploadRequest } from "./_rack_fixtures.ts";
import { startServer } from "./_server.ts";

const AUTH = {
  "@rack": [],
  "@company": [{ token: "ci-token", publish: true, mark: "CI" }, { token: "dev-token" }],
};

async function upload(url: string, archive: Uint8Array, token?: string, checksum?: string) {
  const req = uploadRequest(archive, {
    url,
    ...(token ? { token } : {}),
    ...(checksum ? { checksum } : {}),
  });
  const res = await fetch(req);
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

function get(url: string, path: string, token?: string, extra: Record<string, string> = {}) {
  return fetch(url + path, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra },
  });
}

/** Send only the headers of a large upload over raw TCP and read what comes back. */
async function headersOnlyUpload(url: string, headerLines: string[]): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const head = [
      "POST /registries HTTP/1.1",
      `Host: ${hostname}:${port}`,
      "Content-Type: multipart/form-data; boundary=x",
      "Content-Length: 104857000",
      ...headerLines,
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

Deno.test("Rack end to end: upload, list, latest, files, conflicts, races and auth over a real port", async () => {
  const dir = await Deno.makeTempDir();
  const authPath = `${dir}/auth.json`;
  await Deno.writeTextFile(authPath, JSON.stringify(AUTH));
  try {
    await using server = await startServer([`--storage=kv:${dir}/registry.kv`], {
      env: {
        AUTH_CONFIG_PATH: authPath,
        ADMIN_TOKEN: "admin-secret",
        GGUI_REGISTRY_TOKEN: "ggui-token",
      },
    });
    const url = server.url;
    const item = makeItem({ namespace: "@company", version: "1.0.0" });
    const archive = await makePackage({ item });
    const first = await upload(url, archive, "ci-token");
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.deepEqual(first.json, {
      name: "husky",
      version: "1.0.0",
      namespace: "@company",
      message: "Registry uploaded successfully",
      path: "@company/quality/husky/1.0.0",
    });
    for (const version of ["1.1.0-beta.1", "0.9.0"]) {
      const r = await upload(
        url,
        await makePackage({ item: makeItem({ namespace: "@company", version }) }),
        "ci-token",
      );
      assert.equal(r.status, 201);
    }

    const versions = await get(url, "/registries/@company/quality/husky/versions", "dev-token");
    assert.equal(versions.status, 200);
    assert.equal(
      await versions.text(),
      '{\n  "versions": [\n    "1.1.0-beta.1",\n    "1.0.0",\n    "0.9.0"\n  ]\n}\n',
    );
    const latest = await get(url, "/registries/@company/quality/husky", "dev-token");
    assert.equal((await latest.json()).version, "1.0.0", "latest prefers the highest release");

    const fileRes = await get(
      url,
      "/registries/@company/quality/husky/1.0.0/files/templates/setup.ts",
      "dev-token",
    );
    assert.equal(fileRes.status, 200);
    const fileBytes = await fileRes.text();
    assert.equal(fileBytes, TEMPLATE_FILES["templates/setup.ts"]);
    assert.equal(fileRes.headers.get("content-type"), "text/typescript");
    assert.equal(fileRes.headers.get("etag"), `"${sha256Hex(fileBytes)}"`);
    assert.match(
      fileRes.headers.get("cache-control")!,
      /^private/,
      "gated content is never public",
    );
    const cached = await get(
      url,
      "/registries/@company/quality/husky/1.0.0/files/templates/setup.ts",
      "dev-token",
      {
        "if-none-match": fileRes.headers.get("etag")!,
      },
    );
    assert.equal(cached.status, 304);
    await cached.body?.cancel();

    // Auth: no token, a token of no namespace, an undeclared namespace.
    const anon = await get(url, "/registries/@company/quality/husky/1.0.0");
    assert.equal(anon.status, 401);
    assert.equal((await anon.json()).code, "UNAUTHORIZED");
    assert.equal(anon.headers.get("cache-control"), "no-store");
    const wrong = await get(url, "/registries/@company/quality/husky/1.0.0", "nope");
    assert.equal((await wrong.json()).code, "INVALID_TOKEN");
    const undeclared = await get(url, "/registries/@nowhere/x/1.0.0", "admin-secret");
    assert.equal(undeclared.status, 403);
    await undeclared.body?.cancel();

    // A duplicate is 409; 20 concurrent uploads of one new version have exactly one winner.
    const dup = await upload(url, archive, "ci-token");
    assert.equal(dup.status, 409);
    assert.equal(dup.json.code, "VERSION_EXISTS");
    const raced = await makePackage({
      item: makeItem({ namespace: "@company", version: "2.0.0" }),
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => upload(url, raced, "ci-token")),
    );
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    assert.equal(results.filter((r) => r.status === 409).length, 19);

    const mismatch = await upload(
      url,
      await makePackage({ item: makeItem({ namespace: "@company", version: "3.0.0" }) }),
      "ci-token",
      "0".repeat(64),
    );
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.json.code, "CHECKSUM_MISMATCH");
    assert.equal(
      (await get(url, "/registries/@company/quality/husky/3.0.0", "dev-token")).status,
      404,
    );

    // A token that may not publish anywhere is refused before the body is read.
    const early = await headersOnlyUpload(url, []);
    assert.match(early, /^HTTP\/1\.1 401/);
    const devEarly = await headersOnlyUpload(url, ["Authorization: Bearer dev-token"]);
    assert.match(devEarly, /^HTTP\/1\.1 403/);

    // The two surfaces share one store but never each other's packages.
    const gguiView = await get(url, "/pkg/company/husky/1.0.0", "ggui-token");
    assert.equal(gguiView.status, 404);
    await gguiView.body?.cancel();

    // Discovery, then a revoked token stops working without a restart.
    const ns = await get(url, "/namespaces", "dev-token");
    assert.deepEqual(await ns.json(), { namespaces: ["@company"] });
    const regs = await get(url, "/namespaces/%40company/registries", "dev-token");
    assert.deepEqual(await regs.json(), { namespace: "@company", registries: ["quality/husky"] });
    await Deno.writeTextFile(
      authPath,
      JSON.stringify({ ...AUTH, "@company": [AUTH["@company"][0]] }),
    );
    let revoked = 0;
    for (let i = 0; i < 40 && revoked !== 401; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await get(url, "/registries/@company/quality/husky/1.0.0", "dev-token");
      revoked = r.status;
      await r.body?.cancel();
    }
    assert.equal(revoked, 401, "a removed token is refused after the file changes");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
