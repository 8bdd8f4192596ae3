// A full disk, for real: the store on a small tmpfs (we run as root here and
// in CI) filled to the last byte. /healthz says the disk is full, and gc
// sweeps the orphans with the disk full (it gives up the disk reserve first),
// after which the store writes again.
import assert from "node:assert/strict";
import { FsBundleStorage } from "../storage/fs.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";
import { startServer } from "./_server.ts";

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Write to `path` until the disk refuses: answers how many bytes fitted. */
async function fillDisk(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024).fill(1);
  let written = 0;
  try {
    for (;;) written += await file.write(chunk);
  } catch (err) {
    assert.match(String(err), /No space left on device/);
  } finally {
    file.close();
  }
  return written;
}

const ADMIN = { authorization: "Bearer admin-secret" };

Deno.test("with the disk full, /healthz says so and gc still sweeps (it gives up its reserve first)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "disk-full-" });
  const mnt = `${dir}/mnt`;
  await Deno.mkdir(mnt);
  await run("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt]);
  try {
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      JSON.stringify({ "@company": [{ token: "ci-token", publish: true }] }),
    );
    await using server = await startServer([
      `--storage=kv:${mnt}/registry.kv`,
      `--data-dir=${mnt}`,
      "--disk-reserve-bytes=2097152",
      "--log-requests=false",
    ], { env: { AUTH_CONFIG_PATH: `${dir}/auth.json`, ADMIN_TOKEN: "admin-secret" } });
    const url = server.url;
    const healthz = async () => {
      const res = await fetch(`${url}/healthz`);
      return { status: res.status, body: await res.json() as { ok: boolean; error?: string } };
    };
    assert.deepEqual(await healthz(), { status: 200, body: { ok: true } });
    const archive = await makePackage({ item: makeItem({ namespace: "@company" }) });
    const ok = await fetch(uploadRequest(archive, { url, token: "ci-token" }));
    assert.equal(ok.status, 201, await ok.text());

    // 3 MiB of orphans among the server's blobs (as failed uploads left
    // them before they cleaned up after themselves), written beside it.
    {
      await using blobs = await FsBundleStorage.open({ root: `${mnt}/bundles` });
      for (let i = 0; i < 3; i++) {
        await blobs.put(
          new Uint8Array(1024 * 1024).map((_, j) => (j * 31 + i * 7 + (j >> 8)) & 255),
        );
      }
    }
    const filler = `${mnt}/filler`;
    assert.ok(await fillDisk(filler) > 0);

    const full = await healthz();
    assert.equal(full.status, 503);
    assert.match(full.body.error ?? "", /disk is full/);
    // An upload now fails with 507 (the store cannot write), and leaves nothing behind.
    const refused = await fetch(
      uploadRequest(
        await makePackage({ item: makeItem({ namespace: "@company", version: "2.0.0" }) }),
        { url, token: "ci-token" },
      ),
    );
    assert.equal(refused.status, 507);
    assert.equal((await refused.json()).code, "INSUFFICIENT_STORAGE");

    const gc = await fetch(`${url}/admin/gc?grace=0s`, { method: "POST", headers: ADMIN });
    const report = await gc.json();
    assert.equal(gc.status, 200, JSON.stringify(report));
    // Ours, and the sentinel blob of the health check.
    assert.ok(report.orphans.length >= 3);
    assert.ok(report.bytes >= 3 * 1024 * 1024);
    // The reserve is back (2 of the 3 MiB freed) and the store writes again.
    assert.equal((await Deno.stat(`${mnt}/disk-reserve`)).size, 2 * 1024 * 1024);
    assert.deepEqual(await healthz(), { status: 200, body: { ok: true } });
    const again = await fetch(
      uploadRequest(
        await makePackage({ item: makeItem({ namespace: "@company", version: "2.0.0" }) }),
        { url, token: "ci-token" },
      ),
    );
    assert.equal(again.status, 201, await again.text());
    await server.stop();
  } finally {
    await run("umount", [mnt]);
    await Deno.remove(dir, { recursive: true });
  }
});
