// Journey: our registry in front of a public JSR upstream, with the real
// `deno`. The upstream is a second main.ts on 127.0.0.1 in public mode
// (serving JSR's read layout), holding @pub/greet; ours holds the private
// @acme/util. A project importing both runs with JSR_URL pointed at us, its
// deno.lock pins the upstream's own checksums, a new upstream version shows
// after the freshness window, and with the upstream stopped a fresh DENO_DIR
// still runs the project from our cache.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { startServer } from "./_server.ts";
import { deno } from "./_deno_cli.ts";

async function writePackage(
  dir: string,
  config: { name: string; version: string },
  source: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ ...config, license: "MIT", exports: "./mod.ts" }),
  );
  await Deno.writeTextFile(`${dir}/mod.ts`, source);
}

function greetSource(word: string): string {
  return `/** Greet someone. */\nexport function greet(name: string): string {\n  return \`${word}, \${name}\`;\n}\n`;
}

Deno.test("deno resolves a private package of ours and a public upstream package through us, also offline", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "jsr-upstream-e2e-" });
  try {
    await using upstream = await startServer([
      `--storage=kv:${dir}/up.kv`,
      `--data-dir=${dir}/up`,
      "--token=tok-up",
      "--log-requests=false",
      "--jsr-visibility=public",
      "--jsr-upstream=off",
    ]);
    await using ours = await startServer([
      `--storage=kv:${dir}/ours.kv`,
      `--data-dir=${dir}/ours`,
      "--token=tok-ours",
      `--jsr-upstream=${upstream.url}/`,
      "--jsr-upstream-fresh-ms=1000",
      "--jsr-upstream-timeout-ms=20000",
    ]);
    let dirs = 0;
    const env = (url: string) => ({
      JSR_URL: `${url}/`,
      DENO_DIR: `${dir}/deno-dir-${++dirs}`,
      DENO_AUTH_TOKENS: `tok-ours@${new URL(ours.url).host}`,
    });
    const publish = async (url: string, token: string, pkg: string) => {
      const res = await deno(["publish", "--token", token, "--allow-dirty"], {
        cwd: pkg,
        env: env(url),
      });
      assert.equal(res.code, 0, res.out);
    };

    await writePackage(
      `${dir}/greet`,
      { name: "@pub/greet", version: "1.0.0" },
      greetSource("Hello"),
    );
    await publish(upstream.url, "tok-up", `${dir}/greet`);
    await writePackage(
      `${dir}/util`,
      { name: "@acme/util", version: "1.0.0" },
      "/** Shout. */\nexport function shout(s: string): string {\n  return s.toUpperCase();\n}\n",
    );
    await publish(ours.url, "tok-ours", `${dir}/util`);

    const app = `${dir}/app`;
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      `${app}/deno.json`,
      JSON.stringify({
        imports: { "@acme/util": "jsr:@acme/util@^1", "@pub/greet": "jsr:@pub/greet@^1" },
      }),
    );
    await Deno.writeTextFile(
      `${app}/main.ts`,
      'import { shout } from "@acme/util";\nimport { greet } from "@pub/greet";\nconsole.log(shout(greet("deno")));\n',
    );

    await t.step("the project runs with JSR_URL pointed at us", async () => {
      const ran = await deno(["run", "main.ts"], { cwd: app, env: env(ours.url) });
      assert.equal(ran.code, 0, ran.out);
      assert.match(ran.out, /HELLO, DENO/);
      // The request log is written in batches off the response path: wait for it (bounded).
      for (let i = 0; i < 100 && !/"message":"upstream fetch"/.test(ours.output()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(ours.output(), /"message":"upstream fetch"/);
    });

    await t.step("deno.lock pins the upstream's own checksums", async () => {
      const lock = JSON.parse(await Deno.readTextFile(`${app}/deno.lock`));
      const direct = new Uint8Array(
        await (await fetch(`${upstream.url}/@pub/greet/1.0.0_meta.json`)).arrayBuffer(),
      );
      assert.equal(lock.jsr["@pub/greet@1.0.0"].integrity, sha256Hex(direct));
      assert.ok(lock.jsr["@acme/util@1.0.0"]);
    });

    await t.step(
      "a new upstream version appears after the freshness window, and deno add picks it",
      async () => {
        await writePackage(
          `${dir}/greet`,
          { name: "@pub/greet", version: "1.1.0" },
          greetSource("Howdy"),
        );
        await publish(upstream.url, "tok-up", `${dir}/greet`);
        // The window is 1 s: wait until our meta.json lists it (bounded).
        for (let i = 0; i < 100; i++) {
          const meta = await (await fetch(`${ours.url}/@pub/greet/meta.json`)).json();
          if (meta.latest === "1.1.0") break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const fresh = `${dir}/fresh`;
        await Deno.mkdir(fresh);
        await Deno.writeTextFile(`${fresh}/deno.json`, "{}\n");
        const freshEnv = env(ours.url);
        const added = await deno(["add", "jsr:@pub/greet"], { cwd: fresh, env: freshEnv });
        assert.equal(added.code, 0, added.out);
        const config = JSON.parse(await Deno.readTextFile(`${fresh}/deno.json`));
        assert.equal(config.imports["@pub/greet"], "jsr:@pub/greet@^1.1.0");
        await Deno.writeTextFile(
          `${fresh}/main.ts`,
          'import { greet } from "@pub/greet";\nconsole.log(greet("range"));\n',
        );
        const ran = await deno(["run", "main.ts"], { cwd: fresh, env: freshEnv });
        assert.equal(ran.code, 0, ran.out);
        assert.match(ran.out, /Howdy, range/);
      },
    );

    await t.step(
      "with the upstream stopped, a fresh DENO_DIR still runs from our cache",
      async () => {
        await upstream.stop();
        const ran = await deno(["run", "main.ts"], { cwd: app, env: env(ours.url) });
        assert.equal(ran.code, 0, ran.out);
        assert.match(ran.out, /HELLO, DENO/);
        // meta.json comes stale, flagged, for a resolve without a lockfile, once the
        // 1 s freshness window of its last revalidation is over (bounded wait).
        let res = await fetch(`${ours.url}/@pub/greet/meta.json`);
        for (let i = 0; i < 100 && res.headers.get("x-registry-upstream") !== "stale"; i++) {
          assert.equal(res.headers.get("x-registry-upstream"), "cached");
          await res.body?.cancel();
          await new Promise((r) => setTimeout(r, 100));
          res = await fetch(`${ours.url}/@pub/greet/meta.json`);
        }
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-registry-upstream"), "stale");
        await res.body?.cancel();
        const again = await deno(["run", "--no-lock", "main.ts"], { cwd: app, env: env(ours.url) });
        assert.equal(again.code, 0, again.out);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
