// The web pages in a real browser: Debian's chromium driven by puppeteer-core
// against the registry on a real port. Search and open a package, read its
// README, switch versions, browse a highlighted file, sign in and see a
// private package appear, and stored XSS stay inert (no dialog, no script).
// Set UI_SCREENSHOTS=<dir> to save the main pages' screenshots (docs/ui/).
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import axe from "axe-core";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";
import { ALICE, publishJsr, uiFixture } from "./_ui_fixtures.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const SHOTS = Deno.env.get("UI_SCREENSHOTS");

/**
 * Debian's chromium, installed with apt-get when it is missing (as .ci/run
 * does), so the README's `deno task test` works on a fresh machine too.
 */
async function ensureChromium(): Promise<void> {
  const exists = () => Deno.stat(CHROMIUM).then(() => true, () => false);
  if (await exists()) return;
  const root = Deno.uid?.() === 0;
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "chromium"]]) {
    await new Deno.Command(root ? "apt-get" : "sudo", {
      args: root ? args : ["-n", "apt-get", ...args],
      stdout: "null",
      stderr: "null",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output().catch(() => undefined);
  }
  if (!(await exists())) {
    throw new Error(
      `No browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
}

const EVIL_README = [
  "# Evil",
  "<script>window.__xss = 1; alert('readme')</script>",
  '<img src=x onerror="window.__xss = 2; alert(2)">',
  "[click me](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>)",
  '<svg onload="alert(5)"><script>alert(6)</script></svg>',
].join("\n\n");

const RACK_ADMIN = "rack-admin-secret";

/** A documented module: what the API docs page shows. */
const GREET_MOD = `/** The version of this module. */
export const version = "1.1.0";

/**
 * Greet someone, any number of times.
 *
 * @example
 * \`\`\`ts
 * greet({ name: "Ada" }, 2);
 * \`\`\`
 */
export function greet(who: Person, times = 1): string {
  return \`Hello, \${who.name}! \`.repeat(times);
}

/** Someone to greet. */
export interface Person {
  /** What they are called. */
  name: string;
  /** Their preferred greeting, if any. */
  greeting?: "hello" | "hi";
}

/** Remembers whom it greeted. */
export class Greeter {
  /** Everyone greeted so far. */
  readonly seen: Person[] = [];
  /** Greet and remember. */
  greet(who: Person): string {
    this.seen.push(who);
    return greet(who);
  }
}
`;

async function seeded() {
  const auth = parseAuthConfig('{"@pub": []}', { adminToken: RACK_ADMIN }).auth;
  const f = await uiFixture({
    rackAuth: () => Promise.resolve(auth),
    // No configured public URL: the API docs import from the loopback origin.
    hostFromRequest: ["bundleHost", "registryHostname"],
  });
  const readme = (v: string) =>
    `# Greet ${v}\n\nSays *hello*.\n\n\`\`\`ts\nimport { version } from "jsr:@pub/greet";\n\`\`\`\n`;
  await publishJsr(f.app, "@pub/greet@1.0.0", { "README.md": readme("1.0.0") }, f.admin);
  await publishJsr(f.app, "@pub/greet@1.1.0", {
    "README.md": readme("1.1.0"),
    "lib/util.ts": "// A helper.\nexport function twice(n: number): number {\n  return n * 2;\n}\n",
    "mod.ts": GREET_MOD,
  }, f.admin);
  await publishJsr(f.app, "@pub/evil@1.0.0", {
    "README.md": EVIL_README,
    "page.html": "<script>alert('html file')</script><p>hi</p>",
    "pic.svg":
      '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(7)"><script>alert(8)</script></svg>',
  }, f.admin);
  await publishJsr(f.app, "@acme/secret@1.0.0", { "README.md": "# Top secret" }, ALICE);
  const archive = await makePackage({
    item: makeItem({ namespace: "@pub", description: "Git hooks for every repository" }),
  });
  const up = await f.app.request(uploadRequest(archive, { token: RACK_ADMIN }));
  if (up.status !== 201) throw new Error(`Rack upload failed: ${up.status} ${await up.text()}`);
  return f;
}

async function withBrowser(
  fn: (browser: Browser, base: string, reader: string, admin: string) => Promise<void>,
  more?: (f: Awaited<ReturnType<typeof seeded>>) => Promise<void>,
) {
  const f = await seeded();
  await more?.(f);
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req, info) => f.app.fetch(req, info),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  await ensureChromium();
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    await fn(browser, base, f.reader, f.admin);
  } finally {
    await browser.close();
    ac.abort();
    await server.finished;
  }
}

/** A page that records every dialog (and dismisses it) and every CSP report in the console. */
async function watched(browser: Browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });
  const dialogs: string[] = [];
  const blocked: string[] = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
  });
  return { page, dialogs, blocked };
}

async function shot(page: Page, name: string) {
  if (!SHOTS) return;
  await Deno.mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` as `${string}.png`, fullPage: false });
}

const text = (page: Page, selector: string) =>
  page.$eval(selector, (el) => (el as unknown as { textContent: string }).textContent);

Deno.test({
  name:
    "a reader searches, opens a package, reads its README, switches versions and browses a file",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base) => {
      const { page, dialogs } = await watched(browser);
      await page.goto(`${base}/`);
      await shot(page, "home");
      await page.type("header #q", "greet");
      await Promise.all([page.waitForNavigation(), page.click("header button[type=submit]")]);
      assert.match(page.url(), /\?q=greet/);
      await Promise.all([page.waitForNavigation(), page.click('a[href="/@pub/greet"]')]);
      assert.equal(await text(page, "#readme h1"), "Greet 1.1.0");
      assert.match(await text(page, "#install-deno"), /deno add jsr:@pub\/greet@\^1.1.0/);
      await shot(page, "package");
      await Promise.all([page.waitForNavigation(), page.click('a[href="/@pub/greet@1.0.0"]')]);
      assert.equal(await text(page, "#readme h1"), "Greet 1.0.0");
      await page.goto(`${base}/@pub/greet`);
      await Promise.all([
        page.waitForNavigation(),
        page.click('a[href$="/files/@pub/greet@1.1.0/"]'),
      ]);
      await Promise.all([page.waitForNavigation(), page.click('a[href$="/lib/"]')]);
      await Promise.all([page.waitForNavigation(), page.click('a[href$="/lib/util.ts"]')]);
      assert.equal(await text(page, "#source .hljs-keyword"), "export");
      await shot(page, "file");
      // The stylesheet applied: the page is styled by /ui/style.css only.
      const font = await page.$eval("body", (el) =>
        (globalThis as unknown as {
          getComputedStyle: (e: unknown) => { fontFamily: string };
        }).getComputedStyle(el).fontFamily);
      assert.match(font, /system-ui/);
      assert.deepEqual(dialogs, []);
    }),
});

Deno.test({
  name: "a private package is invisible signed out and visible to its reader after signing in",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base, reader) => {
      const { page } = await watched(browser);
      const before = await page.goto(`${base}/@acme/secret`);
      assert.equal(before?.status(), 404);
      await page.goto(`${base}/`);
      assert.ok(!(await page.content()).includes("@acme/secret"));
      await page.goto(`${base}/ui/sign-in`);
      await shot(page, "sign-in");
      await page.type("#token", reader);
      await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
      assert.equal(new URL(page.url()).pathname, "/");
      assert.ok(!page.url().includes(reader));
      assert.ok((await page.content()).includes('href="/@acme/secret"'));
      const after = await page.goto(`${base}/@acme/secret`);
      assert.equal(after?.status(), 200);
      assert.equal(await text(page, "#readme h1"), "Top secret");
      const cookies = await browser.cookies();
      const session = cookies.find((c) => c.name === "registry_session")!;
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, "Strict");
      // Signing out ends it.
      await Promise.all([
        page.waitForNavigation(),
        page.click('form[action="/ui/sign-out"] button'),
      ]);
      const gone = await page.goto(`${base}/@acme/secret`);
      assert.equal(gone?.status(), 404);
    }),
});

Deno.test({
  name: "a reader pages through search results by Next and Previous, with script off",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base) => {
      const { page } = await watched(browser);
      await page.setJavaScriptEnabled(false);
      await page.goto(`${base}/?q=many`);
      assert.equal(await text(page, "#count"), "packages 1–20 · more follow");
      const first = await page.$$eval("ul.hits a", (as) => as.map((a) => a.textContent));
      assert.equal(first[0], "@pub/many24");
      await Promise.all([page.waitForNavigation(), page.click('a[rel="next"]')]);
      assert.equal(await text(page, "#count"), "packages 21–25 of 25");
      const second = await page.$$eval("ul.hits a", (as) => as.map((a) => a.textContent));
      assert.deepEqual(second, [
        "@pub/many04",
        "@pub/many03",
        "@pub/many02",
        "@pub/many01",
        "@pub/many00",
      ]);
      assert.equal(await page.$('a[rel="next"]'), null);
      await shot(page, "search-page-2");
      await Promise.all([page.waitForNavigation(), page.click('a[rel="prev"]')]);
      assert.equal(await text(page, "#count"), "packages 1–20 · more follow");
      assert.deepEqual(await page.$$eval("ul.hits a", (as) => as.map((a) => a.textContent)), first);
    }, async (f) => {
      for (let i = 0; i < 25; i++) {
        await publishJsr(f.app, `@pub/many${String(i).padStart(2, "0")}@1.0.0`, {}, f.admin);
      }
    }),
});

Deno.test({
  name: "stored XSS is inert in the browser: no dialog, no script element, nothing ran",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base) => {
      const { page, dialogs } = await watched(browser);
      for (
        const path of [
          "/@pub/evil",
          "/ui/files/@pub/evil@1.0.0/page.html",
          "/ui/files/@pub/evil@1.0.0/pic.svg",
          "/ui/raw/@pub/evil@1.0.0/page.html",
          "/ui/raw/@pub/evil@1.0.0/pic.svg",
        ]
      ) {
        await page.goto(`${base}${path}`);
        const ran = await page.evaluate(() => (globalThis as { __xss?: number }).__xss ?? null);
        assert.equal(ran, null, path);
        // The only script element is the pages' own file: nothing inline, nothing injected.
        const scripts = await page.$$eval("script", (s) =>
          s.map((e) => (e as unknown as { src: string; text: string }).src || "inline"));
        assert.ok(
          scripts.every((src) =>
            src === `${base}/ui/copy.js`
          ),
          `${path}: ${scripts}`,
        );
      }
      // The dangerous links are text, not links.
      await page.goto(`${base}/@pub/evil`);
      const hrefs = await page.$$eval(
        "#readme a",
        (as) => as.map((a) => (a as unknown as { href: string }).href),
      );
      assert.ok(
        hrefs.every((h) => /^https?:/.test(h)),
        hrefs.join(" "),
      );
      assert.deepEqual(dialogs, []);
    }),
});

/** Sign in through the form in this page. */
async function signInWith(page: Page, base: string, token: string) {
  await page.goto(`${base}/ui/sign-in`);
  await page.type("#token", token);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
}

Deno.test({
  name: "an admin creates a token, sees its secret once, revokes it, and its session is gone",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base, _reader, admin) => {
      const { page } = await watched(browser);
      await signInWith(page, base, admin);
      await page.goto(`${base}/ui/tokens`);
      await page.type('input[name="subject"]', "dave");
      await page.type('input[name="namespace"]', "@acme");
      await page.click('input[name="action-read"]');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/ui/tokens"] button')]);
      const secret = (await text(page, "#secret")).trim();
      assert.ok(secret.length > 20);
      await shot(page, "tokens");
      await page.goto(`${base}/ui/tokens`);
      assert.ok(!(await page.content()).includes(secret));
      // Dave signs in elsewhere (a separate cookie jar).
      const other = await browser.createBrowserContext();
      const davePage = await other.newPage();
      await signInWith(davePage, base, secret);
      assert.match(await davePage.content(), /dave/);
      // The admin revokes it; Dave's next request is signed out.
      for (const row of await page.$$("tbody tr")) {
        const rowText = await row.evaluate((tr) =>
          (tr as unknown as { textContent: string }).textContent
        );
        if (!rowText.includes("dave")) continue;
        const button = (await row.$("button"))!;
        await Promise.all([page.waitForNavigation(), button.click()]);
        break;
      }
      await page.goto(`${base}/ui/tokens`);
      const rows = await page.$$eval("tbody tr", (trs) =>
        trs.map((tr) => (tr as unknown as { textContent: string }).textContent));
      const daveRow = rows.find((r) =>
        r.includes("dave")
      )!;
      assert.match(daveRow, /revoked/);
      await davePage.reload();
      assert.doesNotMatch(await davePage.content(), /dave/);
      assert.match(await davePage.content(), /Sign in/);
      await other.close();
    }),
});

Deno.test({
  name: "axe-core finds no serious or critical accessibility violation on any page type",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base, _reader, admin) => {
      const page = await browser.newPage();
      // axe is injected as a script, which the pages' own policy forbids.
      await page.setBypassCSP(true);
      const pages = [
        "/",
        "/?q=greet",
        "/@pub/greet",
        "/@pub/greet@1.0.0",
        "/@pub",
        "/ui/rack/@pub/quality/husky",
        "/ui/doc/@pub/greet@1.1.0",
        "/ui/files/@pub/greet@1.1.0/",
        "/ui/files/@pub/greet@1.1.0/lib/util.ts",
        "/ui/sign-in",
        "/ui/nope",
      ];
      const check = async (path: string) => {
        await page.goto(`${base}${path}`);
        await page.addScriptTag({ content: axe.source });
        const found = await page.evaluate(async () => {
          const run = (globalThis as unknown as {
            axe: { run: () => Promise<{ violations: { id: string; impact: string }[] }> };
          }).axe.run;
          const r = await run();
          return r.violations.map((v) => `${v.impact}:${v.id}`);
        });
        const bad = found.filter((v) => /^(serious|critical):/.test(v));
        assert.deepEqual(bad, [], `${path}: ${found.join(", ")}`);
      };
      for (const path of pages) await check(path);
      await signInWith(page, base, admin);
      for (const path of ["/ui/tokens", "/ui/audit", "/@pub/greet"]) await check(path);
      // The operator pages (tests/ui_ops_pages_test.ts), each also a screenshot.
      for (const name of ["webhooks", "gc", "dashboard"]) {
        await check(`/ui/${name}`);
        await shot(page, name);
      }
    }),
});

Deno.test({
  name: "the copy button copies the install command, from a same-origin script the CSP allows",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base) => {
      const context = browser.defaultBrowserContext();
      await context.overridePermissions(base, ["clipboard-read", "clipboard-write"]);
      const { page, blocked } = await watched(browser);
      for (
        const [path, id, want] of [
          [
            "/@pub/greet",
            "install-deno",
            /^JSR_URL=http:\/\/127\.0\.0\.1:\d+\/ deno add jsr:@pub\/greet@\^1\.1\.0$/,
          ],
          ["/ui/rack/@pub/quality/husky", "install-rack", /^rk add @pub\/quality\/husky@1\.0\.0$/],
        ] as const
      ) {
        await page.goto(`${base}${path}`);
        const button = `button[data-copy="${id}"]`;
        await page.waitForSelector(button, { visible: true });
        await page.click(button);
        await page.waitForFunction(
          (sel: string) =>
            (globalThis as unknown as {
              document: { querySelector: (s: string) => { textContent: string } };
            })
              .document.querySelector(sel).textContent === "Copied",
          {},
          button,
        );
        const copied = await page.evaluate(() =>
          (globalThis as unknown as {
            navigator: { clipboard: { readText: () => Promise<string> } };
          })
            .navigator.clipboard.readText()
        );
        assert.match(copied, want, path);
        assert.equal(copied, await text(page, `#${id}`));
      }
      await shot(page, "rack-package");
      assert.deepEqual(blocked, []);
      // Without JavaScript the button stays hidden and the command is still there to select.
      const plain = await browser.newPage();
      await plain.setJavaScriptEnabled(false);
      await plain.goto(`${base}/@pub/greet`);
      assert.equal(
        await plain.$eval('button[data-copy="install-deno"]', (b) =>
          (b as unknown as { hidden: boolean }).hidden),
        true,
      );
      assert.match(await text(plain, "#install-deno"), /deno add jsr:@pub\/greet/);
    }),
});

Deno.test({
  name: "a reader opens a namespace, a Rack package and a JSR version's API docs",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withBrowser(async (browser, base) => {
      const { page, dialogs } = await watched(browser);
      await page.goto(`${base}/@pub`);
      await shot(page, "namespace");
      await Promise.all([
        page.waitForNavigation(),
        page.click('a[href="/ui/rack/@pub/quality/husky"]'),
      ]);
      assert.equal(await text(page, "#description"), "Git hooks for every repository");
      await Promise.all([
        page.waitForNavigation(),
        page.click('#item-files a[href$="/templates/setup.ts"]'),
      ]);
      assert.equal(await text(page, "#source .hljs-keyword"), "export");
      await page.goto(`${base}/@pub/greet`);
      await Promise.all([
        page.waitForNavigation(),
        page.click('a[href="/ui/doc/@pub/greet@1.1.0"]'),
      ]);
      const signatures = await page.$$eval("main article.symbol pre", (pres) =>
        pres.map((p) => (p as unknown as { textContent: string }).textContent));
      assert.ok(
        signatures.includes("function greet(who: Person, times?: number): string"),
        signatures.join("\n"),
      );
      await shot(page, "api-docs");
      assert.deepEqual(dialogs, []);
    }),
});
