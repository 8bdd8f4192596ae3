// End to end, as a user would: main.ts on a real port over a real KV file (and
// an fs directory), real Ed25519 keys, two subjects, restarts.
import assert from "node:assert/strict";
import { createToken } from "../core/tokens.ts";
import { fromBase64, sha256Hex, sri384 } from "../base/digest.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import {
  GADGET_SOURCE,
  makeBlueprint,
  makeGadget,
  makeKey,
  type TestKey,
} from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";

const ALICE = "alice-secret-token";

function headers(token?: string): Record<string, string> {
  return token
    ? { authorization: `Bearer ${token}`, "content-type": "application/json" }
    : { "content-type": "application/json" };
}

async function call(
  url: string,
  path: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<
  { status: number; text: string; json: () => Record<string, unknown>; headers: Headers }
> {
  const res = await fetch(url + path, {
    method: init.method ?? "GET",
    headers: headers(init.token),
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text), headers: res.headers };
}

async function gadget(key: TestKey, manifest: Record<string, unknown>, source = GADGET_SOURCE) {
  return await makeGadget(key, { manifest, source });
}

/** A stored token for bob, written straight into the KV file before the server starts. */
async function bobToken(kvPath: string): Promise<string> {
  const kv = await Deno.openKv(kvPath);
  try {
    const ctx = {
      storage: new KvRegistryStorage(kv),
      bundles: new KvBundleStorage(kv),
      clock: () => new Date(),
    };
    const { secret } = await createToken(ctx, { subject: "bob", grants: [] }, {
      subject: "root",
      admin: true,
    });
    return secret;
  } finally {
    kv.close();
  }
}

Deno.test("ggui end to end on a KV file: keys, private publishes, reads, lists, races and a restart", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/registry.kv`;
  try {
    const BOB = await bobToken(kvPath);
    const args = [`--storage=kv:${kvPath}`, `--token=${ALICE}`, "--subject=alice"];
    const aliceKey = await makeKey();
    const bobKey = await makeKey();
    let server = await startServer(args);
    try {
      const url = server.url;
      assert.equal((await call(url, "/healthz")).text, '{"ok":true}');
      const reg = await call(url, "/author-keys", {
        method: "POST",
        token: ALICE,
        body: { publicKeyBase64: aliceKey.publicKeyBase64, label: "laptop" },
      });
      assert.equal(reg.status, 201);
      assert.equal(reg.json().keyId, aliceKey.keyId);
      assert.equal(reg.json().subject, "alice");
      const again = await call(url, "/author-keys", {
        method: "POST",
        token: ALICE,
        body: { publicKeyBase64: aliceKey.publicKeyBase64 },
      });
      assert.equal(again.status, 200);
      assert.equal(
        (await call(url, "/author-keys", {
          method: "POST",
          token: BOB,
          body: { publicKeyBase64: bobKey.publicKeyBase64 },
        })).status,
        201,
      );

      for (const version of ["1.0.0", "1.1.0-rc.1", "0.9.0", "1.1.0"]) {
        const res = await call(url, "/publish", {
          method: "POST",
          token: ALICE,
          body: await gadget(aliceKey, { version }),
        });
        assert.equal(res.status, 201, res.text);
        const body = res.json();
        assert.equal(body.artifactId, "@acme/map");
        assert.equal(body.version, version);
        assert.equal(typeof body.manifestUrl, "string");
        assert.equal(
          body.installCommand,
          `ggui gadget install @acme/map@${version} --registry=http://${new URL(url).host}`,
        );
      }

      const list = await call(url, "/pkg/acme/map", { token: ALICE });
      assert.equal(list.status, 200);
      const versions = list.json().versions as {
        version: string;
        visibility: string;
        yanked: boolean;
      }[];
      assert.deepEqual(versions.map((v) => v.version), ["1.1.0", "1.1.0-rc.1", "1.0.0", "0.9.0"]);
      assert.ok(versions.every((v) => v.visibility === "private" && v.yanked === false));

      const read = await call(url, "/pkg/acme/map/1.0.0", { token: ALICE });
      assert.equal(read.status, 200);
      const pkg = read.json();
      assert.equal(pkg.publishedBy, "alice");
      assert.equal(pkg.authorPublicKey, aliceKey.publicKeyBase64);
      const bundleUrl = pkg.bundleUrl as string;
      assert.ok(bundleUrl.startsWith(`${url}/bundles/private/@acme/map/1.0.0/`));
      const blob = await fetch(bundleUrl, { headers: headers(ALICE) });
      assert.equal(blob.status, 200);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      assert.equal(new TextDecoder().decode(bytes), GADGET_SOURCE);
      assert.equal(sri384(bytes), pkg.bundleSri);

      // Bob sees nothing of alice's private artifact, byte for byte like a miss.
      const missRead = await call(url, "/pkg/acme/ghost/1.0.0", { token: BOB });
      const bobRead = await call(url, "/pkg/acme/map/1.0.0", { token: BOB });
      assert.equal(bobRead.status, 404);
      assert.equal(bobRead.text, missRead.text.replace("ghost", "map"));
      assert.equal(bobRead.headers.get("content-type"), missRead.headers.get("content-type"));
      const anonRead = await call(url, "/pkg/acme/map/1.0.0");
      assert.equal(anonRead.text, bobRead.text);
      const bobList = await call(url, "/pkg/acme/map", { token: BOB });
      assert.equal(bobList.status, 404);
      assert.equal(
        bobList.text,
        (await call(url, "/pkg/acme/ghost", { token: BOB })).text.replace("ghost", "map"),
      );
      const bobBundle = await fetch(bundleUrl, { headers: headers(BOB) });
      assert.equal(bobBundle.status, 404);
      const ghostBundle = await fetch(`${url}/bundles/private/@acme/ghost/1.0.0/bundle.js`, {
        headers: headers(BOB),
      });
      assert.equal(ghostBundle.status, 404);
      assert.equal(await bobBundle.text(), await ghostBundle.text());
      assert.equal(bobBundle.headers.get("content-type"), ghostBundle.headers.get("content-type"));

      // A private blueprint: compiled on publish, its compiled bytes in the read, and a miss to Bob.
      const blueprint = await call(url, "/publish", {
        method: "POST",
        token: ALICE,
        body: await makeBlueprint(aliceKey),
      });
      assert.equal(blueprint.status, 201, blueprint.text);
      assert.equal(blueprint.json().artifactId, "@acme/card");
      const card = await call(url, "/pkg/acme/card/1.0.0", { token: ALICE });
      assert.equal(card.status, 200, card.text);
      const compiled = fromBase64(card.json().compiledBytes as string)!;
      assert.ok(compiled.byteLength > 0);
      assert.equal(sha256Hex(compiled), card.json().compiledDigest);
      assert.equal((card.json().manifest as { kind: string }).kind, "blueprint");
      const bobCard = await call(url, "/pkg/acme/card/1.0.0", { token: BOB });
      assert.equal(bobCard.status, 404);
      assert.equal(bobCard.text, missRead.text.replace("ghost", "card"));

      // Bob cannot publish into alice's scope, but can claim his own.
      const forbidden = await call(url, "/publish", {
        method: "POST",
        token: BOB,
        body: await gadget(bobKey, { version: "5.0.0" }),
      });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.json().error, "scope_forbidden");
      const bobPub = await call(url, "/publish", {
        method: "POST",
        token: BOB,
        body: await gadget(bobKey, { scope: "@bobco", name: "tool" }),
      });
      assert.equal(bobPub.status, 201, bobPub.text);
      assert.equal((await call(url, "/pkg/bobco/tool/1.0.0", { token: ALICE })).status, 404);
      assert.equal((await call(url, "/pkg/bobco/tool/1.0.0", { token: BOB })).status, 200);

      // Search shows public artifacts only: none of these.
      const search = await call(url, "/search?q=map");
      assert.equal(search.status, 200);
      assert.deepEqual(search.json().results, []);

      // A duplicate is 409 with the exact message; 20 identical publishes at once have one winner.
      const dup = await call(url, "/publish", {
        method: "POST",
        token: ALICE,
        body: await gadget(aliceKey, { version: "1.0.0" }),
      });
      assert.equal(dup.status, 409);
      assert.equal(
        dup.json().message,
        "@acme/map@1.0.0 is already published — versions are immutable. Publish a new version instead.",
      );
      const body = await gadget(aliceKey, { version: "2.0.0" });
      const results = await Promise.all(
        Array.from(
          { length: 20 },
          () => call(url, "/publish", { method: "POST", token: ALICE, body }),
        ),
      );
      assert.equal(results.filter((r) => r.status === 201).length, 1);
      assert.equal(results.filter((r) => r.status === 409).length, 19);
      const after = (await call(url, "/pkg/acme/map", { token: ALICE })).json().versions as {
        version: string;
      }[];
      assert.equal(after.filter((v) => v.version === "2.0.0").length, 1);
      assert.equal(await server.stop(), 0, "SIGTERM exits cleanly");

      // The same KV file after a restart.
      server = await startServer(args);
      const reread = await call(server.url, "/pkg/acme/map/1.0.0", { token: ALICE });
      assert.equal(reread.status, 200);
      const blob2 = await fetch(server.url + new URL(bundleUrl).pathname, {
        headers: headers(ALICE),
      });
      assert.equal(await blob2.text(), GADGET_SOURCE);
      assert.equal((await call(server.url, "/pkg/acme/map", { token: BOB })).status, 404);
      assert.equal((await call(server.url, "/pkg/bobco/tool/1.0.0", { token: BOB })).status, 200);
      const card2 = await call(server.url, "/pkg/acme/card/1.0.0", { token: ALICE });
      assert.equal(card2.json().compiledDigest, card.json().compiledDigest);
    } finally {
      await server.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ggui end to end on an fs directory: data survives a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [`--storage=fs:${dir}/store`, `--token=${ALICE}`, "--subject=alice"];
    const key = await makeKey();
    let server = await startServer(args);
    try {
      await call(server.url, "/author-keys", {
        method: "POST",
        token: ALICE,
        body: { publicKeyBase64: key.publicKeyBase64 },
      });
      const pub = await call(server.url, "/publish", {
        method: "POST",
        token: ALICE,
        body: await gadget(key, {}),
      });
      assert.equal(pub.status, 201, pub.text);
      assert.equal(await server.stop(), 0);
      server = await startServer(args);
      const read = await call(server.url, "/pkg/acme/map/1.0.0", { token: ALICE });
      assert.equal(read.status, 200);
      const blob = await fetch(server.url + new URL(read.json().bundleUrl as string).pathname, {
        headers: headers(ALICE),
      });
      assert.equal(await blob.text(), GADGET_SOURCE);
      const keys = await call(server.url, "/author-keys", { token: ALICE });
      assert.equal((keys.json().keys as unknown[]).length, 1);
    } finally {
      await server.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server started with no token writes an admin token and refuses anonymous writes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using server = await startServer([`--data-dir=${dir}`]);
    assert.match(server.output(), new RegExp(`admin token in ${dir}/admin-token`));
    const stat = await Deno.stat(`${dir}/admin-token`);
    assert.equal(stat.mode! & 0o777, 0o600);
    const token = (await Deno.readTextFile(`${dir}/admin-token`)).trim();
    const key = await makeKey();
    const anon = await call(server.url, "/author-keys", {
      method: "POST",
      body: { publicKeyBase64: key.publicKeyBase64 },
    });
    assert.equal(anon.status, 401);
    const authed = await call(server.url, "/author-keys", {
      method: "POST",
      token,
      body: { publicKeyBase64: key.publicKeyBase64 },
    });
    assert.equal(authed.status, 201);
    assert.equal(authed.json().subject, "admin");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts exits 2 with one line and a usage hint on a bad flag", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      new URL("../main.ts", import.meta.url).pathname,
      "--port=abc",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  assert.deepEqual(err, [
    "registry-server: --port must be an integer from 0 to 65535 (got 'abc')",
    "Run with --help for usage.",
  ]);
});
