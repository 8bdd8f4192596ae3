// The admin API's paged listings over HTTP: each cursor continues only its
// own listing; a cursor of another listing, a forged one or an absurd page
// size is a 400 in the admin envelope, and the listing is never read.
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { recordAudit } from "../core/audit.ts";
import { createToken } from "../core/tokens.ts";
import { newOutboxRows, outboxMutations } from "../core/webhooks.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { CountingRegistryStorage } from "./_counting_storage.ts";

const OPS = "ops-token";

async function setup() {
  const inner = new MemoryRegistryStorage();
  const storage = new CountingRegistryStorage(inner);
  const bundles = new MemoryBundleStorage();
  const ctx = { storage: inner, bundles, clock: () => new Date() };
  for (let i = 0; i < 5; i++) {
    await recordAudit(ctx, { actor: "ci", action: "publish", target: `p${i}` });
    await createToken(ctx, { subject: i % 2 ? "ci" : "bot", grants: [] }, {
      subject: "root",
      admin: true,
    });
  }
  const outbox = newOutboxRows(
    Array.from({ length: 5 }, (_, i) => ({
      event: "uploaded",
      url: "https://h.example/",
      subscription: "s",
      body: `${i}`,
    })),
    new Date(),
  );
  await inner.commit({ checks: [], mutations: outboxMutations(outbox) });
  const app = createRegistryApp({
    storage,
    bundles,
    authenticator: staticTokenAuthenticator({ token: OPS, subject: "ops" }),
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
  });
  const get = (path: string) =>
    app.request(`/admin${path}`, { headers: { authorization: `Bearer ${OPS}` } });
  return { storage, get };
}

Deno.test("admin listings page with their own cursors and refuse every other cursor and page size with a 400", async () => {
  const { storage, get } = await setup();
  const cursors: Record<string, string> = {};
  const listings: Record<string, string> = {
    audit: "/audit",
    pending: "/webhooks/deliveries?state=pending",
    tokens: "/tokens",
    ci: "/tokens?subject=ci",
  };
  for (const [name, path] of Object.entries(listings)) {
    const join = path.includes("?") ? "&" : "?";
    const first = await get(`${path}${join}limit=1`);
    assert.equal(first.status, 200, name);
    const body = await first.json();
    assert.ok(body.cursor, `${name} gave a cursor`);
    cursors[name] = body.cursor;
    const next = await get(`${path}${join}limit=1&cursor=${encodeURIComponent(body.cursor)}`);
    assert.equal(next.status, 200, `${name} continues`);
    const items = (await next.json())[name.startsWith("t") || name === "ci" ? "tokens" : "items"];
    assert.equal(items.length, 1, `${name} second page`);
  }
  for (const [name, path] of Object.entries(listings)) {
    const join = path.includes("?") ? "&" : "?";
    const bad = [
      ...Object.entries(cursors).filter(([other]) => other !== name).map(([, c]) => `cursor=${c}`),
      "cursor=garbage",
      `cursor=${cursors[name]!.replace(/~.*/, "~e30")}`, // `{}`: a position of the wrong shape
      `cursor=${cursors[name]}x`,
      "limit=0",
      "limit=-5",
      "limit=1000000",
      "limit=2.5",
      "limit=ten",
    ];
    const urls = bad.map((query) => `${path}${join}${query}`);
    // Each delivery state is a listing of its own.
    if (name === "pending") urls.push(`/webhooks/deliveries?state=dead&cursor=${cursors.pending}`);
    for (const url of urls) {
      storage.reads = [];
      const res = await get(url);
      assert.equal(res.status, 400, `${name}: ${url}`);
      const body = await res.json();
      assert.equal(body.code, "invalid_input", url);
      assert.equal(typeof body.message, "string", url);
      assert.deepEqual(storage.reads.filter((r) => r.op === "list"), [], `${url} listed nothing`);
    }
  }
});
