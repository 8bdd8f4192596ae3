// ggui gadget pages: what the page shows, found from the home page, and the
// privacy rule (a private gadget renders exactly the page of a missing one).
import assert from "node:assert/strict";
import type { Hono } from "hono";
import {
  makeGadget,
  makeKey,
  makePublicGadget,
  publish,
  registerKey,
  testSigstoreVerifier,
} from "./_ggui_fixtures.ts";
import { ALICE, signIn, uiFixture, uiGet as page } from "./_ui_fixtures.ts";

async function seeded() {
  const f = await uiFixture({ sigstore: testSigstoreVerifier });
  const app = f.app as unknown as Hono;
  const open = await publish(
    app,
    ALICE,
    makePublicGadget({ manifest: { scope: "@open", name: "map", description: "A <b>map</b>" } }),
  );
  assert.equal(open.status, 201, await open.clone().text());
  const key = await makeKey();
  assert.equal((await registerKey(app, ALICE, key)).status, 201);
  const hidden = await publish(app, ALICE, await makeGadget(key, { manifest: { name: "secret" } }));
  assert.equal(hidden.status, 201, await hidden.clone().text());
  return f;
}

Deno.test("a public gadget's page shows its description, exports, install line and SRI", async () => {
  const f = await seeded();
  const home = await (await page(f.app, "/?format=ggui")).text();
  assert.match(home, /href="\/ui\/ggui\/@open\/map"/);
  assert.ok(!home.includes("secret"));
  const res = await page(f.app, "/ui/ggui/@open/map");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /A &lt;b&gt;map&lt;\/b&gt;/);
  assert.match(html, /<code>useMap<\/code>/);
  assert.match(html, /ggui gadget install @open\/map@1.0.0 --registry=http:\/\/localhost/);
  assert.match(html, /sha384-/);
  assert.equal((await page(f.app, "/ui/ggui/@open/map@1.0.0")).status, 200);
});

Deno.test("a private gadget renders exactly the missing page to others and its page to its publisher", async () => {
  const f = await seeded();
  for (
    const [hidden, missing] of [
      ["/ui/ggui/@acme/secret", "/ui/ggui/@acme/nothing"],
      ["/ui/ggui/@acme/secret@1.0.0", "/ui/ggui/@acme/nothing@1.0.0"],
    ] as const
  ) {
    const a = await page(f.app, hidden);
    const b = await page(f.app, missing);
    assert.equal(a.status, 404);
    assert.deepEqual([...a.headers], [...b.headers]);
    assert.equal(await a.text(), await b.text());
  }
  const { session } = await signIn(f.app, ALICE);
  const own = await page(f.app, "/ui/ggui/@acme/secret", session);
  assert.equal(own.status, 200);
  assert.match(await own.text(), /class="badge private"/);
});
