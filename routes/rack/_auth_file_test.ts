import assert from "node:assert/strict";
import { sha256Hex } from "../../base/digest.ts";
import { createFileAuthProvider, loadWebhookFile } from "./_auth_file.ts";

Deno.test("the file auth provider re-reads auth.json when it changes, keeping the last good config on bad JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/auth.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ "@company": [{ token: "dev", mark: "d" }], "bad key": [] }),
    );
    const logs: string[] = [];
    const provider = await createFileAuthProvider({
      path,
      adminToken: " root ",
      minIntervalMs: 0,
      log: (level, message) => logs.push(`${level}:${message}`),
    });
    let auth = await provider();
    assert.equal(auth.adminSha256, sha256Hex("root"));
    assert.equal(auth.namespaces.get("@company")!.tokens[0]!.sha256, sha256Hex("dev"));
    assert.ok(logs.includes("warn:auth.json namespace rejected"));

    // Revoke "dev": a different size makes the change visible at once.
    await Deno.writeTextFile(
      path,
      JSON.stringify({ "@company": [{ token: "ci-new", publish: true }] }),
    );
    auth = await provider();
    assert.equal(auth.namespaces.get("@company")!.tokens[0]!.sha256, sha256Hex("ci-new"));

    await Deno.writeTextFile(path, "{ broken");
    auth = await provider();
    assert.equal(auth.namespaces.get("@company")!.tokens[0]!.sha256, sha256Hex("ci-new"));
    assert.ok(logs.some((l) => l.startsWith("error:auth.json reload failed")));

    await Deno.remove(path);
    auth = await provider();
    assert.equal(auth.namespaces.size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the file auth provider stats the file at most once per interval", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/auth.json`;
    await Deno.writeTextFile(path, '{"@a":[]}');
    const provider = await createFileAuthProvider({ path, minIntervalMs: 60_000 });
    assert.ok((await provider()).namespaces.has("@a"));
    await Deno.writeTextFile(path, '{"@b":[], "@c": []}');
    assert.ok((await provider()).namespaces.has("@a"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the file auth provider refuses to start on an invalid file and declares nothing without one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/auth.json`, "[]");
    await assert.rejects(
      () => createFileAuthProvider({ path: `${dir}/auth.json` }),
      /not an object/,
    );
    const missing = await createFileAuthProvider({ path: `${dir}/none.json` });
    assert.equal((await missing()).namespaces.size, 0);
    assert.deepEqual(await loadWebhookFile(`${dir}/none.json`), []);
    await Deno.writeTextFile(
      `${dir}/hooks.json`,
      '{"webhooks":[{"url":"u","secret":"s","events":[],"enabled":1}]}',
    );
    await assert.rejects(() => loadWebhookFile(`${dir}/hooks.json`), /enabled/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
