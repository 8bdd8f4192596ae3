// The web pages in process: what each page shows, the privacy rule (a hidden
// package renders exactly the page of a missing one), the security headers,
// ETags, stored XSS rendered inert, and bad input answered with a page.
import assert from "node:assert/strict";
import { ALICE, BROWSER, publishJsr, uiFixture } from "./_ui_fixtures.ts";
import type { RegistryApp } from "../routes/app.ts";

function page(app: RegistryApp, path: string, headers: Record<string, string> = {}) {
  return Promise.resolve(app.request(path, { headers: { ...BROWSER, ...headers } }));
}

const XSS_README = [
  "# Evil",
  "<script>alert('readme')</script>",
  '<img src=x onerror="alert(1)">',
  "[click](javascript:alert(1)) [data](data:text/html,<script>alert(1)</script>)",
  "[tab](java\tscript:alert(1)) ![svg](data:image/svg+xml;base64,PHN2Zz4=)",
  '<svg onload="alert(1)"><script>alert(2)</script></svg>',
].join("\n\n");

async function seeded() {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/greet@1.0.0", { "README.md": "# Greet\n\nSays *hello*." }, f.admin);
  await publishJsr(f.app, "@pub/greet@1.1.0", { "README.md": "# Greet 1.1" }, f.admin);
  await publishJsr(f.app, "@pub/evil@1.0.0", {
    "README.md": XSS_README,
    "page.html": "<script>alert('html file')</script>",
    "pic.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
  }, f.admin);
  await publishJsr(f.app, "@acme/secret@1.0.0", { "README.md": "# Top secret" }, ALICE);
  return f;
}

Deno.test("the home page lists public packages newest first and never a private one", async () => {
  const f = await seeded();
  const html = await (await page(f.app, "/")).text();
  assert.match(html, /href="\/@pub\/greet"/);
  assert.match(html, /href="\/@pub\/evil"/);
  assert.ok(!html.includes("secret"));
  assert.match(html, /2 packages/);
  assert.ok(html.indexOf("@pub/evil") < html.indexOf("@pub/greet"));
});

Deno.test("search filters by text and format, and any input is a page, never an error", async () => {
  const f = await seeded();
  const hit = await (await page(f.app, "/?q=GREET")).text();
  assert.match(hit, /@pub\/greet/);
  assert.ok(!hit.includes('href="/@pub/evil"'));
  const none = await (await page(f.app, "/?format=rack")).text();
  assert.match(none, /0 packages/);
  for (
    const q of [
      "/?q=" + "x".repeat(100_000),
      "/?q=%F0%9F%98%80%00%E2%80%AE",
      "/?page=999999999999",
      "/?page=-1&format=nope",
      "/?cursor=garbage&back=x,,y",
      "/?cursor=7.AAAA.0123456789abcdef&back=" + "1.a,".repeat(500),
      "/?q=" + "word ".repeat(40),
      "/?q=%ZZ",
    ]
  ) {
    const res = await page(f.app, q);
    assert.equal(res.status, 200, q.slice(0, 40));
    await res.body?.cancel();
  }
});

Deno.test("a package page shows its README, versions newest first, install line and digests", async () => {
  const f = await seeded();
  const html = await (await page(f.app, "/@pub/greet")).text();
  assert.match(html, /<h1>Greet 1.1<\/h1>/);
  assert.match(html, /deno add jsr:@pub\/greet@\^1.1.0/);
  assert.ok(html.indexOf('href="/@pub/greet@1.1.0"') < html.indexOf('href="/@pub/greet@1.0.0"'));
  assert.match(html, /sha256-[A-Za-z0-9+/]{43}=/);
  const old = await (await page(f.app, "/@pub/greet@1.0.0")).text();
  assert.match(old, /Says <em>hello<\/em>/);
});

Deno.test("a private package renders exactly the page of a missing one, to the byte", async () => {
  const f = await seeded();
  for (
    const [hidden, missing] of ([
      ["/@acme/secret", "/@acme/nothing"],
      ["/@acme/secret@1.0.0", "/@acme/nothing@1.0.0"],
      ["/ui/files/@acme/secret@1.0.0/", "/ui/files/@acme/nothing@1.0.0/"],
      ["/ui/files/@acme/secret@1.0.0/README.md", "/ui/files/@acme/nothing@1.0.0/README.md"],
      ["/ui/raw/@acme/secret@1.0.0/README.md", "/ui/raw/@acme/nothing@1.0.0/README.md"],
      ["/@pub/greet@9.9.9", "/@pub/nothing@9.9.9"],
    ] as const)
  ) {
    for (const who of [{}, { "x-any": "bob" }] as Record<string, string>[]) {
      const a = await page(f.app, hidden, who);
      const b = await page(f.app, missing, who);
      assert.equal(a.status, 404, hidden);
      assert.equal(b.status, 404, missing);
      assert.deepEqual([...a.headers], [...b.headers], hidden);
      assert.equal(await a.text(), await b.text(), hidden);
    }
  }
});

Deno.test("every page carries the security headers, an ETag, and answers 304 to it", async () => {
  const f = await seeded();
  for (
    const path of ["/", "/@pub/greet", "/ui/files/@pub/greet@1.0.0/mod.ts", "/nope/ui", "/ui/x"]
  ) {
    const res = await page(f.app, path.startsWith("/nope") ? "/ui/nope" : path);
    await res.body?.cancel();
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    // Scripts from this origin's files only: never inline, never another origin.
    assert.match(csp, /script-src 'self';/, path);
    assert.ok(!/unsafe-inline|unsafe-eval|https?:/.test(csp), path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(res.headers.get("referrer-policy"), "same-origin", path);
    if (res.status !== 200) continue;
    const etag = res.headers.get("etag");
    assert.ok(etag, path);
    const again = await page(f.app, path, { "if-none-match": etag! });
    assert.equal(again.status, 304, path);
    assert.equal(await again.text(), "");
  }
});

Deno.test("stored XSS in a README renders as text: no script, handler or dangerous link", async () => {
  const f = await seeded();
  const html = await (await page(f.app, "/@pub/evil")).text();
  const readme = html.slice(html.indexOf('id="readme"'), html.indexOf("</section>"));
  assert.ok(!/<script/i.test(readme));
  assert.ok(!/<svg/i.test(readme));
  assert.ok(!/<img/i.test(readme));
  // No tag carries an event handler (the escaped source text may mention one).
  const tags = readme.match(/<[a-z][^>]*>/gi) ?? [];
  assert.ok(tags.length > 0);
  assert.ok(tags.every((t) => !/\son\w+=/i.test(t)), tags.join(" "));
  assert.ok(!/href="(javascript|data|java)/i.test(readme));
  assert.match(readme, /&lt;script&gt;/);
});

Deno.test("a package's HTML and SVG files are shown escaped and served raw as sandboxed text", async () => {
  const f = await seeded();
  const view = await (await page(f.app, "/ui/files/@pub/evil@1.0.0/page.html")).text();
  assert.ok(!view.includes("<script>alert"));
  assert.match(view, /&lt;/);
  for (const file of ["page.html", "pic.svg"]) {
    const raw = await page(f.app, `/ui/raw/@pub/evil@1.0.0/${file}`);
    assert.equal(raw.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(raw.headers.get("content-security-policy") ?? "", /^sandbox;/);
    assert.equal(raw.headers.get("x-content-type-options"), "nosniff");
    assert.match(await raw.text(), /<script>/);
  }
});

Deno.test("the file browser lists folders, shows a file highlighted, and cuts binary files", async () => {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/tree@1.0.0", {
    "lib/a.ts": "export const a = 1;\n",
    "lib/deep/b.ts": "export const b = 2;\n",
    "blob.bin": new Uint8Array([0, 1, 2, 0, 255]),
  }, f.admin);
  const root = await (await page(f.app, "/ui/files/@pub/tree@1.0.0/")).text();
  assert.match(root, /href="\/ui\/files\/@pub\/tree@1.0.0\/lib\/"/);
  const lib = await (await page(f.app, "/ui/files/@pub/tree@1.0.0/lib")).text();
  assert.match(lib, /deep\//);
  const a = await (await page(f.app, "/ui/files/@pub/tree@1.0.0/lib/a.ts")).text();
  assert.match(a, /<span class="hljs-keyword">export<\/span>/);
  const bin = await (await page(f.app, "/ui/files/@pub/tree@1.0.0/blob.bin")).text();
  assert.match(bin, /A binary file/);
  assert.equal((await page(f.app, "/ui/files/@pub/tree@1.0.0/nope")).status, 404);
});

Deno.test("--ui=false leaves every path to the wire surfaces", async () => {
  const f = await seeded();
  const off = f.sibling({ ui: false });
  const res = await page(off, "/@pub/greet");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "application/json");
  await res.body?.cancel();
  const style = await page(off, "/ui/style.css");
  assert.equal(style.status, 404);
  await style.body?.cancel();
});

Deno.test("a yanked version is marked in the versions table and on its own page", async () => {
  const f = await seeded();
  const res = await f.app.request("/api/scopes/pub/packages/greet/versions/1.0.0", {
    method: "PATCH",
    headers: { authorization: `Bearer ${f.admin}`, "content-type": "application/json" },
    body: JSON.stringify({ yanked: true }),
  });
  assert.equal(res.status, 204, await res.clone().text());
  await res.body?.cancel();
  const html = await (await page(f.app, "/@pub/greet")).text();
  const row = /<tr><td><a href="\/@pub\/greet@1.0.0">[^]*?<\/tr>/.exec(html)![0];
  assert.match(row, /badge yanked/);
  const own = await (await page(f.app, "/@pub/greet@1.0.0")).text();
  assert.match(own, /<h1>[^]*badge yanked[^]*<\/h1>/);
});
