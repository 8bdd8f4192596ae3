import assert from "node:assert/strict";
import { toBase64 } from "../base/digest.ts";
import { deleteAuthorKey, listAuthorKeys, registerAuthorKey } from "../core/ggui/author_keys.ts";
import { keyIdOf } from "../core/ggui/signing.ts";
import { authorKeyKey } from "../storage/keys.ts";
import {
  bearer,
  makeGadget,
  makeGguiApp,
  makeKey,
  publish,
  registerKey,
  rowKeys,
  TOKENS,
} from "./_ggui_fixtures.ts";

const UNAUTHORIZED = {
  error: "unauthorized",
  code: "unauthorized",
  message:
    "a valid bearer credential is required in the Authorization header — missing or invalid token",
};

Deno.test("registerAuthorKey() answers 201, then 200 echoing the existing row", async () => {
  const { app } = makeGguiApp();
  const key = await makeKey();
  const first = await app.request("/author-keys", {
    method: "POST",
    headers: bearer(TOKENS.alice),
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64, label: "  laptop  " }),
  });
  assert.equal(first.status, 201);
  const created = await first.json();
  assert.deepEqual(created, {
    subject: "alice",
    keyId: key.keyId,
    publicKeyBase64: key.publicKeyBase64,
    createdAt: created.createdAt,
    label: "laptop",
  });
  assert.match(created.createdAt, /^\d{4}-\d\d-\d\dT/);
  const again = await app.request("/author-keys", {
    method: "POST",
    headers: bearer(TOKENS.alice),
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64, label: "new label" }),
  });
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), created);
  // The same key under another subject is a separate first write.
  assert.equal((await registerKey(app, TOKENS.bob, key)).status, 201);
});

Deno.test("registerAuthorKey() derives the key id server-side from the key bytes", async () => {
  const { app } = makeGguiApp();
  const raw = (await makeKey()).publicKeyRaw;
  const res = await app.request("/author-keys", {
    method: "POST",
    headers: bearer(TOKENS.alice),
    body: JSON.stringify({ publicKeyBase64: toBase64(raw), keyId: "chosen-by-client" }),
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.keyId, keyIdOf(raw));
  assert.match(body.keyId, /^[A-Za-z0-9_-]{16}$/);
});

Deno.test("registerAuthorKey() answers 409 key_conflict when another key holds the key id", async () => {
  const { app, storage } = makeGguiApp();
  const key = await makeKey();
  // A row under alice's key id holding different bytes (a truncation collision).
  const other = toBase64(new Uint8Array(32).fill(9));
  await storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: authorKeyKey("alice", key.keyId),
      value: { subject: "alice", keyId: key.keyId, publicKeyBase64: other },
    }],
  });
  const res = await registerKey(app, TOKENS.alice, key);
  assert.equal(res.status, 409);
  const body = await res.json();
  assert.equal(body.error, "key_conflict");
  assert.equal(body.code, "key_conflict");
});

Deno.test("registerAuthorKey() rejects bad bodies with invalid_request and writes nothing", async () => {
  const { app, storage } = makeGguiApp();
  const real = (await makeKey()).publicKeyBase64;
  const unusable =
    "`publicKeyBase64` is not a usable Ed25519 public key (not a point on the curve, or one of small order)";
  const before = await rowKeys(storage);
  const cases: [string, string][] = [
    ["{nope", "request body is not valid JSON"],
    [JSON.stringify({ publicKeyBase64: "A".repeat(70_000) }), "request body is over 65536 bytes"],
    ["null", "request body must be a JSON object"],
    ["[1]", "request body must be a JSON object"],
    ['"x"', "request body must be a JSON object"],
    ["{}", "`publicKeyBase64` is required"],
    ['{"publicKeyBase64":""}', "`publicKeyBase64` is required"],
    ['{"publicKeyBase64":42}', "`publicKeyBase64` must be a string"],
    ['{"publicKeyBase64":"not*base64"}', "`publicKeyBase64` is not valid base64"],
    ['{"publicKeyBase64":"AAAA-_AA"}', "`publicKeyBase64` is not valid base64"],
    ['{"publicKeyBase64":"AAAA"}', "`publicKeyBase64` must decode to 32 raw bytes (got 3)"],
    // Small-order points (all zeros: order 4; the identity) and bytes that are no point at all.
    [JSON.stringify({ publicKeyBase64: toBase64(new Uint8Array(32)) }), unusable],
    [
      JSON.stringify({ publicKeyBase64: toBase64(Uint8Array.of(1, ...new Uint8Array(31))) }),
      unusable,
    ],
    [JSON.stringify({ publicKeyBase64: toBase64(new Uint8Array(32).fill(0xff)) }), unusable],
    [
      JSON.stringify({ publicKeyBase64: real, label: 5 }),
      "`label` must be a string",
    ],
    [
      JSON.stringify({ publicKeyBase64: real, label: "x".repeat(101) }),
      "`label` must be at most 100 characters (got 101)",
    ],
  ];
  for (const [body, message] of cases) {
    const res = await app.request("/author-keys", {
      method: "POST",
      headers: bearer(TOKENS.alice),
      body,
    });
    assert.equal(res.status, 400, body);
    assert.deepEqual(await res.json(), {
      error: "invalid_request",
      code: "invalid_request",
      message,
    });
  }
  assert.deepEqual(await rowKeys(storage), before);
});

Deno.test("the author-key routes require a valid bearer", async () => {
  const { app, storage } = makeGguiApp();
  const key = await makeKey();
  const before = await rowKeys(storage);
  for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic x" }]) {
    for (
      const [method, path] of [["POST", "/author-keys"], ["GET", "/author-keys"], [
        "DELETE",
        `/author-keys/${key.keyId}`,
      ]]
    ) {
      const res = await app.request(path!, {
        method,
        headers: headers as Record<string, string>,
        ...(method === "POST"
          ? { body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }) }
          : {}),
      });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.deepEqual(await res.json(), UNAUTHORIZED);
    }
  }
  // Nothing but one refused audit record per refused write (POST, DELETE).
  const added = (await rowKeys(storage)).filter((k) => !before.includes(k));
  assert.equal(added.length, 6);
  for (const k of added) {
    assert.ok(k.startsWith('["audit",'), k);
    assert.equal((await storage.get<{ outcome: string }>(JSON.parse(k)))?.value.outcome, "refused");
  }
});

Deno.test("listAuthorKeys() returns only the caller's keys, newest first", async () => {
  const { app } = makeGguiApp();
  const k1 = await makeKey();
  const k2 = await makeKey();
  const k3 = await makeKey();
  await registerKey(app, TOKENS.alice, k1);
  await registerKey(app, TOKENS.alice, k2);
  await registerKey(app, TOKENS.bob, k3);
  const res = await app.request("/author-keys", { headers: bearer(TOKENS.alice) });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.subject, "alice");
  assert.deepEqual(body.keys.map((k: { keyId: string }) => k.keyId), [k2.keyId, k1.keyId]);
  assert.deepEqual(Object.keys(body.keys[0]), ["keyId", "publicKeyBase64", "createdAt"]);
  const empty = makeGguiApp();
  const none = await empty.app.request("/author-keys", { headers: bearer(TOKENS.bob) });
  assert.deepEqual(await none.json(), { subject: "bob", keys: [] });
});

Deno.test("deleteAuthorKey() deletes only the caller's key and blocks future publishes", async () => {
  const { app } = makeGguiApp();
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(key))).status, 201);
  // Bob cannot delete alice's key: indistinguishable from absent.
  const bobDel = await app.request(`/author-keys/${key.keyId}`, {
    method: "DELETE",
    headers: bearer(TOKENS.bob),
  });
  assert.deepEqual(await bobDel.json(), { keyId: key.keyId, deleted: false });
  const del = await app.request(`/author-keys/${key.keyId}`, {
    method: "DELETE",
    headers: bearer(TOKENS.alice),
  });
  assert.equal(del.status, 200);
  assert.deepEqual(await del.json(), { keyId: key.keyId, deleted: true });
  const again = await app.request(`/author-keys/${key.keyId}`, {
    method: "DELETE",
    headers: bearer(TOKENS.alice),
  });
  assert.deepEqual(await again.json(), { keyId: key.keyId, deleted: false });
  // Published versions keep the key pinned; new publishes are refused.
  const read = await (await app.request("/pkg/acme/map/1.0.0", { headers: bearer(TOKENS.alice) }))
    .json();
  assert.equal(read.authorPublicKey, key.publicKeyBase64);
  const res = await publish(
    app,
    TOKENS.alice,
    await makeGadget(key, { manifest: { version: "2.0.0" } }),
  );
  assert.equal(res.status, 403);
  assert.equal((await res.json()).code, "unknown_key");
  // An absurdly long key id is simply absent.
  const long = "k".repeat(5000);
  const longDel = await app.request(`/author-keys/${long}`, {
    method: "DELETE",
    headers: bearer(TOKENS.alice),
  });
  assert.deepEqual(await longDel.json(), { keyId: long, deleted: false });
  // An empty key id is a 400.
  const empty = await app.request("/author-keys/", {
    method: "DELETE",
    headers: bearer(TOKENS.alice),
  });
  assert.equal(empty.status, 400);
  assert.equal((await empty.json()).code, "invalid_request");
});

Deno.test("registerAuthorKey() under a race: one 201, the rest 200 with the same row", async () => {
  const { app } = makeGguiApp();
  const key = await makeKey();
  const responses = await Promise.all(
    Array.from({ length: 10 }, () => registerKey(app, TOKENS.alice, key)),
  );
  assert.deepEqual(responses.map((r) => r.status).sort(), [
    200,
    200,
    200,
    200,
    200,
    200,
    200,
    200,
    200,
    201,
  ]);
  const bodies = await Promise.all(responses.map((r) => r.json()));
  assert.equal(new Set(bodies.map((b) => b.createdAt)).size, 1);
});

Deno.test("listAuthorKeys() never leaks keys between subjects sharing a prefix", async () => {
  const env = makeGguiApp();
  const ctx = { ...env.ctx, bundleHost: "http://x", registryHostname: "x" };
  const team = await makeKey();
  const member = await makeKey();
  assert.equal(
    (await registerAuthorKey(ctx, {
      authn: { subject: "team" },
      body: { publicKeyBase64: team.publicKeyBase64 },
    })).status,
    201,
  );
  assert.equal(
    (await registerAuthorKey(ctx, {
      authn: { subject: "team/alice" },
      body: { publicKeyBase64: member.publicKeyBase64 },
    })).status,
    201,
  );
  const teamKeys = (await listAuthorKeys(ctx, { authn: { subject: "team" } })).body as {
    keys: { keyId: string }[];
  };
  assert.deepEqual(teamKeys.keys.map((k) => k.keyId), [team.keyId]);
  const memberKeys = (await listAuthorKeys(ctx, { authn: { subject: "team/alice" } })).body as {
    keys: { keyId: string }[];
  };
  assert.deepEqual(memberKeys.keys.map((k) => k.keyId), [member.keyId]);
  assert.deepEqual(
    (await deleteAuthorKey(ctx, { authn: { subject: "team" }, keyId: member.keyId })).body,
    { keyId: member.keyId, deleted: false },
  );
  assert.equal((await listAuthorKeys(ctx, { authn: undefined })).status, 401);
});
