// The web pages change nothing a client of the wire surfaces receives: the
// requests `deno`, the ggui CLI and the Rack CLI make (and the test suite's,
// by their paths and headers) get the same status, headers and bytes from an
// app with the pages on as from one with them off, over one store. The
// end-to-end suites (tests/e2e_*_test.ts) also run the real clients against
// main.ts, where the pages are on by default.
import assert from "node:assert/strict";
import { BROWSER, publishJsr, uiFixture } from "./_ui_fixtures.ts";
import type { RegistryApp } from "../routes/app.ts";

/** What a client sees of a response (the date aside). */
async function seen(app: RegistryApp, path: string, init: RequestInit) {
  const res = await app.request(path, init);
  const headers = [...res.headers].filter(([k]) => k !== "date");
  return { status: res.status, headers, body: new Uint8Array(await res.arrayBuffer()) };
}

const PATHS = [
  // deno add / run / check / publish (JSR_URL and its /api/).
  "/@pub/greet/meta.json",
  "/@pub/greet/1.0.0_meta.json",
  "/@pub/greet/1.0.0/mod.ts",
  "/@pub/greet/1.0.0/README.md",
  "/@acme/secret/meta.json",
  "/@acme/secret/1.0.0/mod.ts",
  "/@pub/nothing/meta.json",
  "/api/scopes/pub/packages/greet",
  "/api/scopes/pub/packages/greet/versions",
  "/api/scopes/pub/packages/greet/versions/1.0.0",
  "/api/publish_status/00000000-0000-0000-0000-000000000000",
  // The paths the pages take over for browsers only.
  "/",
  "/@pub/greet",
  "/@pub/greet@1.0.0",
  "/@acme/secret",
  "/@pub",
  "/@acme",
  // ggui CLI and the ggui tests.
  "/healthz",
  "/search?q=greet",
  "/pkg/@pub/greet",
  "/pkg/@pub/greet/1.0.0",
  "/author-keys",
  "/bundles/public/@pub/greet/1.0.0/bundle.js",
  // Rack CLI and the Rack tests.
  "/health",
  "/namespaces",
  "/namespaces/@pub/registries",
  "/registries/@pub/greet",
  "/schemas/registry.schema.json",
  "/presets/default",
  // The admin API.
  "/admin/tokens",
  "/admin/audit",
];

const CLIENT_HEADERS: Record<string, string>[] = [
  {},
  { accept: "*/*" },
  { accept: "application/json" },
  { accept: "application/json", authorization: "Bearer tok-alice" },
  { "user-agent": "Deno/2.9.0", accept: "*/*", "accept-encoding": "gzip, br" },
];

Deno.test("every client request gets the same bytes with the pages on as with them off", async () => {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/greet@1.0.0", { "README.md": "# Greet" }, f.admin);
  await publishJsr(f.app, "@acme/secret@1.0.0", {});
  const off = f.sibling({ ui: false });
  const on = f.sibling({ ui: true });
  for (const path of PATHS) {
    for (const headers of CLIENT_HEADERS) {
      for (const method of ["GET", "HEAD", "OPTIONS"]) {
        const a = await seen(on, path, { method, headers });
        const b = await seen(off, path, { method, headers });
        assert.deepEqual(a, b, `${method} ${path} ${JSON.stringify(headers)}`);
      }
    }
  }
});

Deno.test("a browser opening a JSR file, meta.json or an API URL gets the surface's answer", async () => {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/greet@1.0.0", {}, f.admin);
  const off = f.sibling({ ui: false });
  const pages = /^\/(@[^/]+(\/[^/]+)?)?$/; // `/`, `/@scope` and `/@scope/name[@version]`
  for (const path of PATHS.filter((p) => !pages.test(p))) {
    const a = await seen(f.app, path, { headers: BROWSER });
    const b = await seen(off, path, { headers: BROWSER });
    assert.deepEqual(a, b, path);
  }
});

Deno.test("a browser at /, a namespace's or a package's own URL gets a page", async () => {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/greet@1.0.0", {}, f.admin);
  for (const path of ["/", "/@pub", "/@pub/greet", "/@pub/greet@1.0.0"]) {
    const res = await f.app.request(path, { headers: BROWSER });
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    await res.body?.cancel();
  }
});
