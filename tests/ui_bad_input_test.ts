// Bad input on the pages: huge READMEs and files, binary and invalid UTF-8
// files, absurd page numbers on versions tables, and stale or foreign CSRF
// tokens: each a clear page or a truncated view, never a 500, nothing changed.
import assert from "node:assert/strict";
import type { RegistryApp } from "../routes/app.ts";
import { listAll } from "../core/store.ts";
import { BROWSER, cookieFrom, publishJsr, signIn, uiFixture } from "./_ui_fixtures.ts";

function page(app: RegistryApp, path: string, headers: Record<string, string> = {}) {
  return Promise.resolve(app.request(path, { headers: { ...BROWSER, ...headers } }));
}

function post(app: RegistryApp, path: string, cookie: string, fields: Record<string, string>) {
  return Promise.resolve(app.request(path, {
    method: "POST",
    headers: { ...BROWSER, cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  }));
}

async function count(app: { storage: Parameters<typeof listAll>[0] }, prefix: string[]) {
  let n = 0;
  for await (const _ of listAll(app.storage, prefix)) n++;
  return n;
}

Deno.test("a README of several MB is cut with a note, a 20 MB file shown in part, raw whole", async () => {
  const f = await uiFixture();
  const readme = "# Big\n\n" + "Lorem ipsum *dolor* sit amet. ".repeat(150_000); // ≈ 4.5 MB
  const line = "export const line = 'abcdefghijklmnopqrstuvwxyz0123456789';\n";
  const big = line.repeat(20_000_000 / line.length) + "x".repeat(20_000_000 % line.length);
  assert.equal(big.length, 20_000_000);
  await publishJsr(f.app, "@pub/huge@1.0.0", { "README.md": readme }, f.admin);
  await publishJsr(f.app, "@pub/bigfile@1.0.0", { "big.ts": big }, f.admin);
  const res = await page(f.app, "/@pub/huge");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /The README is cut at 1 MiB/);
  assert.ok(html.length < 2 * 1024 * 1024, `${html.length} bytes`);
  const file = await page(f.app, "/ui/files/@pub/bigfile@1.0.0/big.ts");
  assert.equal(file.status, 200);
  const shown = await file.text();
  assert.match(shown, /The file is cut at 1 MiB here/);
  assert.ok(shown.length < 2 * 1024 * 1024);
  const raw = await f.app.request("/ui/raw/@pub/bigfile@1.0.0/big.ts");
  assert.equal(raw.headers.get("content-length"), String(big.length));
  assert.equal((await raw.arrayBuffer()).byteLength, big.length);
});

Deno.test("binary and invalid UTF-8 files and READMEs are shown safely", async () => {
  const f = await uiFixture();
  const invalid = new Uint8Array([0x23, 0x20, 0x48, 0x69, 0x0a, 0xff, 0xfe, 0xc3, 0x28, 0x0a]);
  await publishJsr(f.app, "@pub/odd@1.0.0", {
    "README.md": invalid,
    "latin1.ts": new Uint8Array([0x2f, 0x2f, 0x20, 0xe9, 0x74, 0xe9, 0x0a]),
    "image.png": new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
  }, f.admin);
  const res = await page(f.app, "/@pub/odd");
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /<h1>Hi<\/h1>/);
  assert.match(html, /\uFFFD/);
  const latin1 = await page(f.app, "/ui/files/@pub/odd@1.0.0/latin1.ts");
  assert.equal(latin1.status, 200);
  assert.match(await latin1.text(), /\uFFFDt\uFFFD/);
  const png = await (await page(f.app, "/ui/files/@pub/odd@1.0.0/image.png")).text();
  assert.match(png, /A binary file: use the raw link/);
  const raw = await f.app.request("/ui/raw/@pub/odd@1.0.0/image.png");
  assert.equal(raw.headers.get("content-type"), "application/octet-stream");
  assert.equal((await raw.arrayBuffer()).byteLength, 12);
  // Paths that cannot be decoded or name nothing are the not-found page.
  for (const path of ["/ui/files/@pub/odd@1.0.0/%ZZ", "/ui/files/@pub/odd@1.0.0/../../x"]) {
    const r = await page(f.app, path);
    assert.equal(r.status, 404, path);
    await r.body?.cancel();
  }
});

Deno.test("the versions table pages thousands of versions, absurd pages included, with ETags", async () => {
  const f = await uiFixture();
  for (let i = 0; i < 120; i++) await publishJsr(f.app, `@pub/many@1.0.${i}`, {}, f.admin);
  const first = await (await page(f.app, "/@pub/many")).text();
  assert.match(first, /Versions \(120\)/);
  assert.match(first, /page 1 of 3/);
  assert.equal((first.match(/<tr><td><a href="\/@pub\/many@/g) ?? []).length, 50);
  assert.match(first, /href="\/@pub\/many@1\.0\.119\?page=2#versions">Older versions/);
  const third = await (await page(f.app, "/@pub/many@1.0.119?page=3")).text();
  assert.match(third, /page 3 of 3/);
  assert.equal((third.match(/<tr><td><a href="\/@pub\/many@/g) ?? []).length, 20);
  assert.match(third, /href="\/@pub\/many@1\.0\.0"/);
  for (const p of ["999999", "9999999999999999999999", "-3", "abc", "1e3", "%00"]) {
    const res = await page(f.app, `/@pub/many?page=${p}`);
    assert.equal(res.status, 200, p);
    assert.match(await res.text(), /page [13] of 3/, p);
  }
  // Each page carries its own ETag and answers 304 to it.
  const two = await page(f.app, "/@pub/many?page=2");
  const etag = two.headers.get("etag")!;
  await two.body?.cancel();
  assert.notEqual(etag, (await page(f.app, "/@pub/many")).headers.get("etag"));
  const again = await page(f.app, "/@pub/many?page=2", { "if-none-match": etag });
  assert.equal(again.status, 304);
  // A new version changes the page: the old ETag no longer matches.
  await publishJsr(f.app, "@pub/many@1.0.120", {}, f.admin);
  assert.equal((await page(f.app, "/@pub/many?page=2", { "if-none-match": etag })).status, 200);
});

Deno.test("stale or foreign CSRF tokens are refused with 403 and change nothing", async () => {
  const f = await uiFixture();
  // Sign-in: the field of one form with the cookie of another is refused.
  const formA = await page(f.app, "/ui/sign-in");
  const csrfA = /name="csrf" value="([^"]+)"/.exec(await formA.text())![1]!;
  const formB = await page(f.app, "/ui/sign-in");
  await formB.body?.cancel();
  const cookieB = `registry_signin=${cookieFrom(formB, "registry_signin")}`;
  const mixed = await post(f.app, "/ui/sign-in", cookieB, { csrf: csrfA, token: f.admin });
  assert.equal(mixed.status, 403);
  await mixed.body?.cancel();
  assert.equal(await count(f, ["ui_session"]), 0);
  // Operator forms: another session's token, or a token of an ended session.
  const one = (await signIn(f.app, f.admin)).session!;
  const two = (await signIn(f.app, f.admin)).session!;
  const csrfOf = async (s: string) =>
    /name="csrf" value="([^"]+)"/.exec(
      await (await page(f.app, "/ui/tokens", { cookie: `registry_session=${s}` })).text(),
    )![1]!;
  const csrfOne = await csrfOf(one);
  const fields = { subject: "eve", namespace: "@acme", "action-read": "on", days: "1" };
  const tokensBefore = await count(f, ["token"]);
  const foreign = await post(f.app, "/ui/tokens", `registry_session=${two}`, {
    ...fields,
    csrf: csrfOne,
  });
  assert.equal(foreign.status, 403);
  await foreign.body?.cancel();
  const out = await post(f.app, "/ui/sign-out", `registry_session=${one}`, { csrf: csrfOne });
  assert.equal(out.status, 303);
  const stale = await post(f.app, "/ui/tokens", `registry_session=${one}`, {
    ...fields,
    csrf: csrfOne,
  });
  assert.notEqual(stale.status, 200);
  assert.notEqual(stale.status, 500);
  await stale.body?.cancel();
  assert.equal(await count(f, ["token"]), tokensBefore);
});
