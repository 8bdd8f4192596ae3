// A package manager's install, three times in one minute from one address,
// on default settings: a JSR package of 2,000 files, published with stock
// `deno publish` and fetched by three fresh `deno` caches (three machines
// behind one NAT, or one developer clearing a cache). Deno does not retry a
// 429, so a per-address budget on immutable reads would fail the third run.
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";
import { deno } from "./_deno_cli.ts";

const FILES = 2000;

Deno.test("a JSR package of 2,000 files is fetched by three fresh deno caches in a row with no 429", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jsr-many-" });
  try {
    const pkg = `${dir}/pkg`;
    await Deno.mkdir(`${pkg}/src`, { recursive: true });
    await Deno.writeTextFile(
      `${pkg}/deno.json`,
      JSON.stringify({ name: "@big/many", version: "1.0.0", license: "MIT", exports: "./mod.ts" }),
    );
    const imports: string[] = [];
    for (let i = 0; i < FILES; i++) {
      await Deno.writeTextFile(`${pkg}/src/f${i}.ts`, `export const f${i}: number = ${i};\n`);
      imports.push(`import { f${i} } from "./src/f${i}.ts";`);
    }
    const sum = Array.from({ length: FILES }, (_, i) => `f${i}`).join(" + ");
    await Deno.writeTextFile(
      `${pkg}/mod.ts`,
      `${
        imports.join("\n")
      }\n/** The sum of every file's number. */\nexport const total: number = ${sum};\n`,
    );

    // Default settings: only where the data lives and who may publish.
    await using server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      `--data-dir=${dir}`,
      "--token=big-token",
    ]);
    const host = new URL(server.url).host;
    const env = { JSR_URL: `${server.url}/` };
    const published = await deno(["publish", "--token", "big-token", "--allow-slow-types"], {
      cwd: pkg,
      env,
    });
    assert.equal(published.code, 0, published.out);

    const app = `${dir}/app`;
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      `${app}/main.ts`,
      `import { total } from "jsr:@big/many@1.0.0";\nconsole.log("total", total);\n`,
    );
    const expected = (FILES * (FILES - 1)) / 2;
    for (let run = 1; run <= 3; run++) {
      const result = await deno(["run", "--no-lock", "main.ts"], {
        cwd: app,
        env: {
          ...env,
          // A fresh cache each time: every file is fetched again.
          DENO_DIR: `${dir}/deno-dir-${run}`,
          // @big is private by default: the reader presents the token.
          DENO_AUTH_TOKENS: `big-token@${host}`,
        },
      });
      assert.equal(result.code, 0, `run ${run}: ${result.out.slice(-2000)}`);
      assert.ok(!/Too Many Requests/.test(result.out), `run ${run}: ${result.out.slice(-2000)}`);
      assert.match(result.out, new RegExp(`total ${expected}`), `run ${run}`);
    }
    assert.ok(!/"status":429/.test(server.output()), "the server refused nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
