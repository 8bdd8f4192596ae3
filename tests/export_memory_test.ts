// The memory an export holds does not grow with the blobs it has exported.
import assert from "node:assert/strict";

Deno.test("an export of the fs blob store holds no memory per blob it has read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "export-memory-" });
  try {
    const blobs = 12_000;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        new URL("./_export_memory_child.ts", import.meta.url).pathname,
        dir,
        String(blobs),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(out.success, "the child failed");
    const { exported, quarter, end } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(exported, blobs);
    // 9,000 more blobs read between the two figures: the store used to remember
    // each one's path and identity (about 300 bytes each, 2.7 MB here).
    const grown = end - quarter;
    assert.ok(grown < 1024 * 1024, `the live heap grew ${grown} bytes over 9,000 blobs`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
