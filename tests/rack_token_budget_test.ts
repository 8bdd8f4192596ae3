// Rack reads that answer a stranger as they answer anyone (`/namespaces`, an
// anonymous namespace) must still count a token nobody issued as a failed
// authentication, or they test tokens for free (issue 15, item 9): a valid
// token sees more namespaces than an invalid one, which sees what anyone sees.
import assert from "node:assert/strict";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  ADMIN,
  AUTH_JSON,
  makeItem,
  makePackage,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";

async function app(): Promise<RegistryApp> {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const auth = parseAuthConfig(JSON.stringify(AUTH_JSON), { adminToken: ADMIN }).auth;
  const options = {
    storage,
    bundles,
    rackAuth: () => Promise.resolve(auth),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
  };
  // Seed through an app without the budget: @rack (anonymous) and @company (gated).
  const seeder = createRegistryApp({ ...options, authFailuresPerMinute: 0 });
  for (const namespace of ["@rack", "@company"]) {
    const archive = await makePackage({ item: makeItem({ namespace }), files: TEMPLATE_FILES });
    const res = await seeder.request(uploadRequest(archive, { token: ADMIN }));
    assert.equal(res.status, 201, await res.text());
  }
  return createRegistryApp({ ...options, authFailuresPerMinute: 3 });
}

async function namespaces(registry: RegistryApp, token?: string) {
  const res = await registry.request("/namespaces", {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.text() };
}

Deno.test("GET /namespaces with a token nobody issued spends the failed-authentication budget", async () => {
  const registry = await app();
  const anonymous = await namespaces(registry);
  assert.deepEqual(JSON.parse(anonymous.body), { namespaces: ["@rack"] });
  // Valid tokens and no token spend nothing.
  for (let i = 0; i < 4; i++) {
    const valid = await namespaces(registry, "dev-token");
    assert.equal(valid.status, 200);
    assert.deepEqual(JSON.parse(valid.body), { namespaces: ["@company", "@rack"] });
    assert.equal((await namespaces(registry)).status, 200);
  }
  // A guess and an expired token answer what anyone sees, and each counts.
  for (const token of ["guess-1", "old-token", "guess-2"]) {
    const guess = await namespaces(registry, token);
    assert.equal(guess.status, 200);
    assert.equal(guess.body, anonymous.body);
  }
  const locked = await namespaces(registry, "dev-token");
  assert.equal(locked.status, 429, "three bad tokens spend a budget of 3");
  assert.equal(JSON.parse(locked.body).code, "RATE_LIMIT_EXCEEDED");
});

Deno.test("reads of an anonymous Rack namespace count a token nobody issued too", async () => {
  const registry = await app();
  for (let i = 0; i < 3; i++) {
    const res = await registry.request("/registries/@rack/quality/husky/versions", {
      headers: { "x-registry-token": `guess-${i}` },
    });
    assert.equal(res.status, 200, "answered as to anyone");
    await res.body?.cancel();
  }
  const locked = await registry.request("/registries/@rack/quality/husky/versions");
  assert.equal(locked.status, 429);
  await locked.body?.cancel();
});
