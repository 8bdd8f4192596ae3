// An import that can always finish: into an empty store it is all or nothing
// and resumes after a SIGKILL of a real child process with the same end state
// as an uninterrupted run; into a store that holds rows it is refused before
// writing, or --skip-existing adds what is missing and names the conflicts.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { auditMutation, auditRow } from "../core/audit.ts";
import type { RegistryContext } from "../core/context.ts";
import { EXPORTED_ROW_FAMILIES } from "../core/transfer.ts";
import { runCli } from "../server/cli.ts";
import { FsBundleStorage } from "../storage/fs.ts";
import { importStateKey } from "../storage/keys.ts";
import { KvRegistryStorage } from "../storage/kv.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const ROWS = 6000;

async function openStore(dir: string): Promise<RegistryContext & AsyncDisposable> {
  await Deno.mkdir(dir, { recursive: true });
  const storage = new KvRegistryStorage(await Deno.openKv(`${dir}/registry.kv`));
  const bundles = await FsBundleStorage.open({ root: `${dir}/bundles` });
  return {
    storage,
    bundles,
    clock: () => new Date("2026-12-01T00:00:00.000Z"),
    async [Symbol.asyncDispose]() {
      await storage.close();
      await bundles.close();
    },
  };
}

/** Every exported row and blob of a store, to compare end states. */
async function contents(dir: string): Promise<unknown> {
  await using ctx = await openStore(dir);
  const rows: unknown[] = [];
  for (const family of EXPORTED_ROW_FAMILIES) {
    let cursor: string | undefined;
    do {
      const page = await ctx.storage.list([family], { limit: 500, ...(cursor ? { cursor } : {}) });
      rows.push(...page.items.map((e) => [e.key, e.value]));
      cursor = page.cursor;
    } while (cursor);
  }
  const blobs = (await ctx.bundles.list()).items.map((b) => b.sha256).sort();
  return { rows, blobs, importing: await ctx.storage.get(importStateKey()) };
}

const quiet = { out: () => {}, err: () => {} };

Deno.test("an import killed with SIGKILL finishes when run again, with the same end state as one uninterrupted run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry_import_" });
  try {
    {
      await using src = await openStore(`${dir}/src`);
      for (let i = 0; i < 3; i++) await src.bundles.put(new TextEncoder().encode(`blob ${i}`));
      for (let i = 0; i < ROWS; i += 10) {
        const mutations = Array.from(
          { length: 10 },
          (_, j) =>
            auditMutation(
              auditRow(src, { actor: "ci", action: "publish", target: `@acme/p${i + j}@1.0.0` }),
            ),
        );
        assert.ok((await src.storage.commit({ checks: [], mutations })).ok);
      }
    }
    const dump = `${dir}/dump.jsonl`;
    assert.equal(
      await runCli(["export", `--out=${dump}`, `--storage=kv:${dir}/src/registry.kv`], {}, quiet),
      0,
    );

    const killed = `${dir}/killed`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        MAIN,
        "import",
        `--in=${dump}`,
        `--storage=kv:${killed}/registry.kv`,
      ],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    // Kill it once rows have started to land (the blobs come first).
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      const there = await Deno.stat(`${killed}/registry.kv`).then(() => true, () => false);
      if (!there) continue;
      const kv = new KvRegistryStorage(await Deno.openKv(`${killed}/registry.kv`));
      const started = (await kv.list(["audit"], { limit: 1 })).items.length > 0;
      await kv.close();
      if (started) break;
    }
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    const partial = await contents(killed) as { rows: unknown[]; importing: unknown };
    assert.ok(partial.importing !== null, "killed before it finished");
    assert.ok(partial.rows.length < ROWS, "killed mid-import");

    const err: string[] = [];
    assert.equal(
      await runCli(["import", `--in=${dump}`, `--storage=kv:${killed}/registry.kv`], {}, {
        out: () => {},
        err: (l) => void err.push(l),
      }),
      0,
      err.join("\n"),
    );
    assert.ok(err.some((l) => l.startsWith("registry: imported (resumed)")), err.join("\n"));
    const whole = `${dir}/whole`;
    assert.equal(
      await runCli(["import", `--in=${dump}`, `--storage=kv:${whole}/registry.kv`], {}, quiet),
      0,
    );
    const [a, b] = [await contents(killed), await contents(whole)];
    assert.deepEqual(a, b);
    assert.equal((a as { rows: unknown[] }).rows.length, ROWS);
    assert.equal((a as { importing: unknown }).importing, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an import into a store that holds rows is refused before writing; --skip-existing names identical and conflicting rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "registry_import_" });
  try {
    await Deno.mkdir(`${dir}/src`);
    await Deno.mkdir(`${dir}/t`);
    const src = [`--storage=kv:${dir}/src/registry.kv`];
    for (const subject of ["a", "b"]) {
      assert.equal(
        await runCli(
          ["token", "create", `--subject=${subject}`, "--grant=*:read", ...src],
          {},
          quiet,
        ),
        0,
      );
    }
    assert.equal(await runCli(["export", `--out=${dir}/dump.jsonl`, ...src], {}, quiet), 0);
    const target = [`--storage=kv:${dir}/t/registry.kv`];
    assert.equal(
      await runCli(["token", "create", "--subject=c", "--grant=*:read", ...target], {}, quiet),
      0,
    );
    const before = await contents(`${dir}/t`);
    const err: string[] = [];
    const io = { out: () => {}, err: (l: string) => void err.push(l) };
    assert.equal(await runCli(["import", `--in=${dir}/dump.jsonl`, ...target], {}, io), 1);
    assert.match(
      err.at(-1)!,
      /^registry: Could not import: the target store is not empty: import into an empty store, or pass --skip-existing/,
    );
    assert.deepEqual(await contents(`${dir}/t`), before, "nothing written");

    // A copy of the source changed in one row: that row conflicts, the rest is identical.
    assert.equal(
      await runCli(
        ["import", `--in=${dir}/dump.jsonl`, `--storage=kv:${dir}/u/registry.kv`],
        {},
        quiet,
      ),
      0,
    );
    {
      await using u = await openStore(`${dir}/u`);
      const row = (await u.storage.list(["token"], { limit: 1 })).items[0]!;
      const changed = { ...(row.value as Record<string, unknown>), label: "changed" };
      assert.ok(
        (await u.storage.commit({
          checks: [],
          mutations: [{ type: "set", key: row.key, value: changed }],
        })).ok,
      );
    }
    err.length = 0;
    const out: string[] = [];
    const jio = { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) };
    assert.equal(
      await runCli(
        [
          "import",
          `--in=${dir}/dump.jsonl`,
          "--skip-existing",
          `--storage=kv:${dir}/u/registry.kv`,
        ],
        {},
        jio,
      ),
      0,
    );
    const report = JSON.parse(out.join("\n"));
    assert.equal(report.rows, 0);
    assert.equal(report.conflicts.length, 1);
    assert.match(report.conflicts[0], /^token\//);
    assert.ok(report.identical.length > 0);
    assert.ok(err.includes(`registry: conflict: ${report.conflicts[0]}`), err.join("\n"));
    // Into the other store, --skip-existing adds the two tokens beside its own.
    assert.equal(
      await runCli(["import", `--in=${dir}/dump.jsonl`, "--skip-existing", ...target], {}, quiet),
      0,
    );
    const listed: string[] = [];
    assert.equal(
      await runCli(["token", "list", "--json", ...target], {}, {
        out: (l) => void listed.push(l),
        err: () => {},
      }),
      0,
    );
    assert.deepEqual(
      JSON.parse(listed.join("\n")).map((t: { subject: string }) => t.subject).sort(),
      ["a", "b", "c"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
