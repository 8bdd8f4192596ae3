// End to end on one KV file shared by two `main.ts` processes and the CLI:
// tokens created on the command line work on both servers and both surfaces,
// a revocation made through one server is refused by the other at its very
// next request, a hard delete reaches the other within its read-cache TTL, and GC
// run from the command line keeps everything still referenced.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startServer } from "./_server.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: res.code, out: dec.decode(res.stdout), err: dec.decode(res.stderr) };
}

Deno.test("a token revoked through one server fails at the next request on another server sharing the KV file", async () => {
  const dir = await Deno.makeTempDir();
  const store = [
    `--storage=kv:${dir}/registry.kv`,
    `--data-dir=${dir}`,
    `--auth-config=${dir}/auth.json`,
  ];
  await Deno.writeTextFile(
    `${dir}/auth.json`,
    JSON.stringify({ "@acme": [{ token: "legacy-ci", publish: true, mark: "legacy" }] }),
  );
  try {
    const root = await cli(["token", "create", "--subject=root", "--grant=*:admin", ...store]);
    assert.equal(root.code, 0, root.err);
    const ci = await cli([
      "token",
      "create",
      "--subject=ci",
      "--grant=@acme:read,publish",
      "--label=CI",
      "--expires=30d",
      ...store,
    ]);
    assert.equal(ci.code, 0, ci.err);
    const ROOT = JSON.parse(root.out).secret as string;
    const CI = JSON.parse(ci.out).secret as string;
    const ciId = JSON.parse(ci.out).token.id as string;
    const unknown = await cli(["token", "create", "--subject=x", "--grant=@ghost:read", ...store]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /namespace '@ghost' does not exist/);

    const args = [...store, "--token=ops-token", "--subject=ops"];
    await using a = await startServer(args);
    await using b = await startServer(args);
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

    // The CI token works on B, on the Rack and ggui surfaces.
    for (const version of ["1.0.0", "1.1.0"]) {
      const up = await fetch(
        uploadRequest(await makePackage({ item: makeItem({ namespace: "@acme", version }) }), {
          token: CI,
          url: b.url,
        }),
      );
      assert.equal(up.status, 201, await up.text());
    }
    const keysB = await fetch(`${b.url}/author-keys`, { headers: bearer(CI) });
    assert.equal(keysB.status, 200);
    assert.equal((await keysB.json()).subject, "ci");
    const v11 = await fetch(`${b.url}/registries/@acme/quality/husky/1.1.0`, {
      headers: bearer(CI),
    });
    assert.equal(v11.status, 200);
    await v11.body?.cancel();

    // Revoke through A; B refuses at its very next request, on every surface.
    const rev = await fetch(`${a.url}/admin/tokens/${ciId}`, {
      method: "DELETE",
      headers: bearer(ROOT),
    });
    assert.equal(rev.status, 200);
    const ggui = await fetch(`${b.url}/author-keys`, { headers: bearer(CI) });
    assert.equal(ggui.status, 401);
    await ggui.body?.cancel();
    const rack = await fetch(`${b.url}/registries/@acme/quality/husky/versions`, {
      headers: bearer(CI),
    });
    assert.equal(rack.status, 401);
    assert.equal((await rack.json()).code, "INVALID_TOKEN");
    const upload = await fetch(
      uploadRequest(
        await makePackage({ item: makeItem({ namespace: "@acme", version: "2.0.0" }) }),
        {
          token: CI,
          url: b.url,
        },
      ),
    );
    assert.equal(upload.status, 401);
    await upload.body?.cancel();
    const adminB = await fetch(`${b.url}/admin/audit`, { headers: bearer(CI) });
    assert.equal(adminB.status, 401);
    await adminB.body?.cancel();

    // A hard delete through A reaches B within B's read-cache TTL (500 ms by default).
    const del = await fetch(`${a.url}/admin/packages/@acme/quality/husky/versions/1.1.0`, {
      method: "DELETE",
      headers: bearer(ROOT),
    });
    assert.equal(del.status, 200, await del.text());
    const deletedAt = Date.now();
    let after = 200;
    while (after !== 404 && Date.now() - deletedAt < 3000) {
      const res = await fetch(`${b.url}/registries/@acme/quality/husky/1.1.0`, {
        headers: { "x-registry-token": "legacy-ci" },
      });
      after = res.status;
      await res.body?.cancel();
      if (after !== 404) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(after, 404);
    assert.ok(Date.now() - deletedAt < 1500, "seen within the cache TTL plus slack");
    // …and the tombstone refuses the same version on B.
    const again = await fetch(
      uploadRequest(
        await makePackage({ item: makeItem({ namespace: "@acme", version: "1.1.0" }) }),
        {
          token: "legacy-ci",
          url: b.url,
        },
      ),
    );
    assert.equal(again.status, 409);
    assert.equal((await again.json()).code, "VERSION_EXISTS");

    // GC from the command line while both serve: orphans go, 1.0.0 stays whole.
    const dry = await cli(["gc", "--dry-run", "--grace=0ms", ...store]);
    assert.equal(dry.code, 0, dry.err);
    const planned = JSON.parse(dry.out).orphans.length;
    assert.ok(planned >= 1, dry.out);
    const gc = await cli(["gc", "--grace=0ms", ...store]);
    assert.equal(gc.code, 0, gc.err);
    assert.ok(JSON.parse(gc.out).orphans.length >= 1);
    for (
      const path of [
        "1.0.0",
        "1.0.0/files/templates/setup.ts",
        "1.0.0/files/templates/.husky/commit-msg",
      ]
    ) {
      const res = await fetch(`${a.url}/registries/@acme/quality/husky/${path}`, {
        headers: { "x-registry-token": "legacy-ci" },
      });
      assert.equal(res.status, 200, path);
      await res.text();
    }

    // A configuration reload is recorded too (the file is checked at most once a second).
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      JSON.stringify({ "@acme": [{ token: "legacy-ci", publish: true }], "@rack": [] }),
    );
    await new Promise((r) => setTimeout(r, 1100));
    await (await fetch(`${a.url}/namespaces`)).body?.cancel();

    // The log holds the revoke, the delete, the GC run and the reload, with their actors.
    const log = await fetch(`${b.url}/admin/audit?limit=1000`, { headers: bearer(ROOT) });
    const actions = (await log.json()).items.map((r: { action: string; actor: string }) =>
      `${r.action}:${r.actor}`
    );
    for (
      const want of ["token.revoke:root", "version.delete:root", "gc.run:cli", "rack.upload:ci"]
    ) {
      assert.ok(actions.includes(want), `${want} in ${actions.join(", ")}`);
    }
    const list = await cli(["token", "list", "--subject=ci", ...store]);
    assert.ok(JSON.parse(list.out)[0].revokedAt);
    const revokeAgain = await cli(["token", "revoke", "tok_missing", ...store]);
    assert.equal(revokeAgain.code, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
