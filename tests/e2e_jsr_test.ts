// The JSR surface with the real client: stock `deno publish` uploads to
// main.ts on a real port (KV file), then fresh projects resolve, run and
// type-check against it with `deno add` / `deno run` / `deno check`, private
// packages need DENO_AUTH_TOKENS, and a yanked version is not chosen by a range.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { startServer } from "./_server.ts";
import { deno } from "./_deno_cli.ts";

async function writePackage(dir: string, version: string, greeting: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({
      name: "@acme/greet",
      version,
      license: "MIT",
      exports: { ".": "./mod.ts", "./util": "./util.ts" },
    }),
  );
  await Deno.writeTextFile(
    `${dir}/mod.ts`,
    `import { shout } from "./util.ts";\n\n/** Greet someone. */\nexport function greet(name: string): string {\n  return shout(\`${greeting}, \${name}\`);\n}\n`,
  );
  await Deno.writeTextFile(
    `${dir}/util.ts`,
    "/** Upper-case a message. */\nexport function shout(s: string): string {\n  return s.toUpperCase();\n}\n",
  );
}

Deno.test("stock deno publishes, resolves, runs and type-checks against the registry", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jsr-e2e-" });
  try {
    await using server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      `--data-dir=${dir}`,
      "--token=tok-alice",
      "--subject=alice",
      "--log-requests=false",
    ]);
    const host = new URL(server.url).host;
    let dirs = 0;
    /** A fresh Deno cache per consumer, so nothing is answered from an earlier run. */
    const env = (extra: Record<string, string> = {}) => ({
      JSR_URL: `${server.url}/`,
      DENO_DIR: `${dir}/deno-dir-${++dirs}`,
      ...extra,
    });
    const pkg = `${dir}/pkg`;

    await t.step("deno publish uploads a package and reports success", async () => {
      await writePackage(pkg, "1.0.0", "hello");
      const res = await deno(["publish", "--token", "tok-alice", "--allow-dirty"], {
        cwd: pkg,
        env: env(),
      });
      assert.equal(res.code, 0, res.out);
      assert.match(res.out, /Successfully published @acme\/greet@1\.0\.0/);
    });

    await t.step("publishing the same version again is skipped, as on JSR", async () => {
      const res = await deno(["publish", "--token", "tok-alice", "--allow-dirty"], {
        cwd: pkg,
        env: env(),
      });
      assert.equal(res.code, 0, res.out);
      assert.match(res.out, /Skipping, already published @acme\/greet@1\.0\.0/);
    });

    await t.step(
      "a version differing only in build metadata fails the publish, never skips",
      async () => {
        await writePackage(pkg, "1.0.0+build.2", "other bytes");
        const res = await deno(["publish", "--token", "tok-alice", "--allow-dirty"], {
          cwd: pkg,
          env: env(),
        });
        assert.equal(res.code, 1, res.out);
        assert.match(res.out, /same precedence as 1\.0\.0, .*\(versionPrecedenceTaken\)/s);
        assert.doesNotMatch(res.out, /Skipping|Successfully/);
        await writePackage(pkg, "1.0.0", "hello");
      },
    );

    await t.step("a wrong token is refused with JSR's message", async () => {
      const res = await deno(["publish", "--token", "not-a-token", "--allow-dirty"], {
        cwd: pkg,
        env: env(),
      });
      assert.equal(res.code, 1, res.out);
      assert.match(res.out, /\(invalidBearerToken\)/);
    });

    const created = await fetch(`${server.url}/admin/tokens`, {
      method: "POST",
      headers: { authorization: "Bearer tok-alice", "content-type": "application/json" },
      body: JSON.stringify({
        subject: "reader",
        grants: [{ namespace: "@acme", actions: ["read"] }],
      }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const reader = (await created.json()).secret as string;

    await t.step("a token without publish rights is refused and nothing is published", async () => {
      await writePackage(pkg, "1.0.1", "hello");
      const res = await deno(["publish", "--token", reader, "--allow-dirty"], {
        cwd: pkg,
        env: env(),
      });
      assert.equal(res.code, 1, res.out);
      assert.match(res.out, /\(actorNotScopeMember\)/);
      const meta = await (await fetch(`${server.url}/@acme/greet/meta.json`, {
        headers: { authorization: "Bearer tok-alice" },
      })).json();
      assert.deepEqual(Object.keys(meta.versions), ["1.0.0"]);
    });

    const app = `${dir}/app`;
    await t.step("the private package is refused without credentials", async () => {
      await Deno.mkdir(app, { recursive: true });
      await Deno.writeTextFile(`${app}/deno.json`, "{}\n");
      const res = await deno(["add", "jsr:@acme/greet"], { cwd: app, env: env() });
      assert.notEqual(res.code, 0, res.out);
      assert.match(res.out, /not found/);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${app}/deno.json`)), {});
    });

    const auth = { DENO_AUTH_TOKENS: `${reader}@${host}` };
    await t.step("with DENO_AUTH_TOKENS: deno add, run and check work", async () => {
      const appEnv = env(auth);
      const added = await deno(["add", "jsr:@acme/greet"], { cwd: app, env: appEnv });
      assert.equal(added.code, 0, added.out);
      const config = JSON.parse(await Deno.readTextFile(`${app}/deno.json`));
      assert.equal(config.imports["@acme/greet"], "jsr:@acme/greet@^1.0.0");
      await Deno.writeTextFile(
        `${app}/main.ts`,
        'import { greet } from "@acme/greet";\nimport { shout } from "@acme/greet/util";\nconst n: number = greet("deno").length;\nconsole.log(greet("deno"), shout("ok"), n);\n',
      );
      const ran = await deno(["run", "main.ts"], { cwd: app, env: appEnv });
      assert.equal(ran.code, 0, ran.out);
      assert.match(ran.out, /HELLO, DENO OK 11/);
      const checked = await deno(["check", "main.ts"], { cwd: app, env: appEnv });
      assert.equal(checked.code, 0, checked.out);
      await Deno.writeTextFile(
        `${app}/bad.ts`,
        'import { greet } from "@acme/greet";\nexport const x: number = greet("a");\n',
      );
      const bad = await deno(["check", "bad.ts"], { cwd: app, env: appEnv });
      assert.notEqual(bad.code, 0, bad.out);
      assert.match(bad.out, /TS2322/);
      // The lockfile pins the SHA-256 of the exact version metadata bytes we serve.
      const lock = JSON.parse(await Deno.readTextFile(`${app}/deno.lock`));
      const served = new Uint8Array(
        await (await fetch(`${server.url}/@acme/greet/1.0.0_meta.json`, {
          headers: { authorization: `Bearer ${reader}` },
        })).arrayBuffer(),
      );
      assert.equal(lock.jsr["@acme/greet@1.0.0"].integrity, sha256Hex(served));
    });

    await t.step("a yanked version is not chosen by a range", async () => {
      await writePackage(pkg, "1.1.0", "yanked");
      const pub = await deno(["publish", "--token", "tok-alice", "--allow-dirty"], {
        cwd: pkg,
        env: env(),
      });
      assert.equal(pub.code, 0, pub.out);
      const yank = await fetch(`${server.url}/api/scopes/acme/packages/greet/versions/1.1.0`, {
        method: "PATCH",
        headers: { authorization: "Bearer tok-alice", "content-type": "application/json" },
        body: JSON.stringify({ yanked: true }),
      });
      assert.equal(yank.status, 204);
      const fresh = `${dir}/fresh`;
      await Deno.mkdir(fresh);
      await Deno.writeTextFile(`${fresh}/deno.json`, "{}\n");
      const freshEnv = env(auth);
      const added = await deno(["add", "jsr:@acme/greet@^1"], { cwd: fresh, env: freshEnv });
      assert.equal(added.code, 0, added.out);
      const config = JSON.parse(await Deno.readTextFile(`${fresh}/deno.json`));
      assert.equal(config.imports["@acme/greet"], "jsr:@acme/greet@^1.0.0");
      await Deno.writeTextFile(
        `${fresh}/main.ts`,
        'import { greet } from "jsr:@acme/greet@^1";\nconsole.log(greet("range"));\n',
      );
      const ran = await deno(["run", "main.ts"], { cwd: fresh, env: freshEnv });
      assert.equal(ran.code, 0, ran.out);
      assert.match(ran.out, /HELLO, RANGE/, "1.0.0, not the yanked 1.1.0");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
