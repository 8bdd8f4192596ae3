// Rack package pages and namespace pages: what they show, and the privacy
// rule (a package, version, file or namespace the viewer may not read renders
// exactly the page of a missing one: same status, same headers, same bytes).
import assert from "node:assert/strict";
import { parseAuthConfig } from "../core/rack/auth.ts";
import type { RegistryApp } from "../routes/app.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";
import { ALICE, publishJsr, signIn, uiFixture, uiGet as page } from "./_ui_fixtures.ts";

const RACK_ADMIN = "rack-admin-secret";
const TEAM_READ = "team-read-secret";

async function upload(app: RegistryApp, item: Record<string, unknown>, files = {}) {
  const archive = await makePackage({
    item: makeItem(item),
    files: {
      "templates/.husky/commit-msg": "#!/bin/sh\necho hi\n",
      "templates/setup.ts": "export const hooks = ['commit-msg'];\n",
      ...files,
    },
  });
  const res = await app.request(uploadRequest(archive, { token: RACK_ADMIN }));
  assert.equal(res.status, 201, await res.text());
}

/** `@pub` anonymous, `@team` gated (a read token), Rack packages in both, JSR in `@pub`. */
async function seeded() {
  const auth = parseAuthConfig(
    JSON.stringify({ "@pub": [], "@team": [{ token: TEAM_READ, mark: "CI reader" }] }),
    { adminToken: RACK_ADMIN },
  ).auth;
  const f = await uiFixture({ rackAuth: () => Promise.resolve(auth) });
  await upload(f.app, { namespace: "@pub", description: "Git hooks <script>x</script>" });
  await upload(f.app, { namespace: "@pub", version: "1.1.0", homepage: "javascript:alert(1)" });
  await upload(f.app, { namespace: "@team", name: "secret-kit", type: "registry:feature" });
  await publishJsr(f.app, "@pub/greet@1.0.0", { "README.md": "# Greet" }, f.admin);
  return f;
}

Deno.test("a Rack package page shows registry.json's description, files, versions, install and digests", async () => {
  const f = await seeded();
  const res = await page(f.app, "/ui/rack/@pub/quality/husky");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /@pub\/quality\/husky <code>1\.1\.0<\/code>/);
  assert.match(html, /Git hooks/);
  assert.match(html, /rk add @pub\/quality\/husky@1\.1\.0/);
  assert.match(html, /curl http:\/\/localhost\/registries\/@pub\/quality\/husky\/1\.1\.0/);
  assert.match(html, /&quot;@pub&quot;:&quot;http:\/\/localhost&quot;/);
  assert.match(html, /sha256-[A-Za-z0-9+/]{43}=/);
  assert.match(html, /href="\/ui\/files\/@pub\/quality\/husky@1\.1\.0\/templates\/setup\.ts"/);
  assert.ok(html.indexOf(">1.1.0</a>") < html.indexOf(">1.0.0</a>"));
  assert.ok(!html.includes("javascript:"), "a javascript: homepage is never a link");
  const old = await (await page(f.app, "/ui/rack/@pub/quality/husky@1.0.0")).text();
  assert.match(old, /Git hooks &lt;script&gt;x&lt;\/script&gt;/);
  // Its files in the file browser, and raw as sandboxed text.
  const file = await page(f.app, "/ui/files/@pub/quality/husky@1.0.0/templates/setup.ts");
  assert.equal(file.status, 200);
  assert.match(await file.text(), /hljs-keyword/);
  const raw = await f.app.request("/ui/raw/@pub/quality/husky@1.0.0/templates/.husky/commit-msg");
  assert.equal(await raw.text(), "#!/bin/sh\necho hi\n");
  assert.match(raw.headers.get("content-security-policy")!, /sandbox/);
});

Deno.test("a gated Rack package is the missing page to strangers and shown to its token's session", async () => {
  const f = await seeded();
  const pairs = [
    ["/ui/rack/@team/features/secret-kit", "/ui/rack/@team/features/nothing"],
    ["/ui/rack/@team/features/secret-kit@1.0.0", "/ui/rack/@team/features/nothing@1.0.0"],
    ["/ui/files/@team/features/secret-kit@1.0.0/", "/ui/files/@team/features/nothing@1.0.0/"],
    [
      "/ui/files/@team/features/secret-kit@1.0.0/registry.json",
      "/ui/files/@team/features/nothing@1.0.0/registry.json",
    ],
    ["/ui/raw/@team/features/secret-kit@1.0.0/registry.json", "/ui/raw/@pub/no/such@1.0.0/x"],
    ["/ui/rack/@pub/quality/husky@9.9.9", "/ui/rack/@pub/quality/nothing@9.9.9"],
    ["/@team", "/@nobody-here"],
  ] as const;
  const bob = (await signIn(f.app, "tok-bob")).session!;
  for (const who of [undefined, bob]) {
    for (const [hidden, missing] of pairs) {
      const a = await page(f.app, hidden, who);
      const b = await page(f.app, missing, who);
      assert.equal(a.status, 404, hidden);
      assert.equal(b.status, 404, missing);
      assert.deepEqual([...a.headers], [...b.headers], hidden);
      assert.equal(await a.text(), await b.text(), hidden);
    }
  }
  // The auth.json token's session reads it, with the curl line carrying a token.
  const { session } = await signIn(f.app, TEAM_READ);
  const html = await (await page(f.app, "/ui/rack/@team/features/secret-kit", session)).text();
  assert.match(html, /curl -H &quot;Authorization: Bearer \$RACK_TOKEN&quot;/);
  assert.equal((await page(f.app, "/@team", session)).status, 200);
});

Deno.test("a namespace page lists its readable packages of every format and, for admins, its grants", async () => {
  const f = await seeded();
  await publishJsr(f.app, "@acme/hidden@1.0.0", {}, ALICE);
  const pub = await (await page(f.app, "/@pub")).text();
  assert.match(pub, /href="\/ui\/rack\/@pub\/quality\/husky"/);
  assert.match(pub, /href="\/@pub\/greet"/);
  assert.match(pub, /Packages \(2\)/);
  assert.doesNotMatch(pub, /Grants/);
  const home = await (await page(f.app, "/?format=rack")).text();
  assert.match(home, /href="\/ui\/rack\/@pub\/quality\/husky"/);
  assert.doesNotMatch(home, /secret-kit/);
  // @acme holds only a private package: missing to strangers, shown to its reader.
  assert.equal((await page(f.app, "/@acme")).status, 404);
  const reader = (await signIn(f.app, f.reader)).session!;
  assert.match(await (await page(f.app, "/@acme", reader)).text(), /@acme\/hidden/);
  // Admins see who holds which grant: stored tokens and auth.json's.
  const admin = (await signIn(f.app, f.admin)).session!;
  const team = await (await page(f.app, "/@team", admin)).text();
  assert.match(team, /id="grants"/);
  assert.match(team, /auth\.json token CI reader/);
  assert.match(team, /read on @team/);
  assert.match(team, /admin on \*/);
  const acme = await (await page(f.app, "/@acme", admin)).text();
  assert.match(acme, /reader · token [^<]+<\/td><td>read on @acme/);
  // A JSON client asking for /@scope still gets the JSR surface's answer.
  const api = await f.app.request("/@pub", { headers: { accept: "application/json" } });
  assert.notEqual(api.headers.get("content-type"), "text/html; charset=utf-8");
  await api.body?.cancel();
});
