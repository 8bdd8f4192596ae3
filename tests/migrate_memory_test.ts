// The memory of `migrate` follows its largest item, not the source: files are
// hashed and stored as streams (a big file raises the peak by at most one
// copy of itself, not the three it took when read whole twice), and a source
// four times as large does not raise the peak, with no forced collection.
// Each run is a child process (tests/_migrate_memory_child.ts) whose peak
// RSS is read from /proc.
import assert from "node:assert/strict";

const MIB = 1024 * 1024;

/** Add versions `from`…`to` (10 per package) to a Rack STORAGE_ROOT, each with a `data.bin` of `bytes`. */
async function addVersions(root: string, range: { from: number; to: number; bytes: number }) {
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(`${root}/.healthcheck`, "ok");
  const data = new Uint8Array(range.bytes);
  for (let i = range.from; i < range.to; i++) {
    const pkg = `pkg-${Math.floor(i / 10)}`;
    const version = `1.0.${i % 10}`;
    const dir = `${root}/@gen/quality/${pkg}/${version}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/registry.json`,
      JSON.stringify({ name: pkg, namespace: "@gen", version, type: "registry:quality" }),
    );
    // Distinct bytes per version (each is its own blob).
    crypto.getRandomValues(data.subarray(0, Math.min(data.byteLength, 1024)));
    await Deno.writeFile(`${dir}/data.bin`, data);
  }
}

/** Migrate `source` into a fresh store in a child; answers its peak RSS and the versions imported. */
async function peakOfMigrate(source: string, target: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_migrate_memory_child.ts", import.meta.url).pathname,
      source,
      target,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "the child failed");
  const run = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(run.code, 0);
  return { peak: run.peak as number, imported: run.counts.imported as number };
}

Deno.test("migrate rack's peak RSS grows by at most one copy of a 48 MiB file (hashed and stored as streams)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "migrate-memory-" });
  try {
    await addVersions(`${dir}/small`, { from: 0, to: 20, bytes: 1024 });
    await addVersions(`${dir}/big`, { from: 0, to: 19, bytes: 1024 });
    await addVersions(`${dir}/big`, { from: 19, to: 20, bytes: 48 * MIB });
    const small = await peakOfMigrate(`${dir}/small`, `${dir}/t-small`);
    const big = await peakOfMigrate(`${dir}/big`, `${dir}/t-big`);
    assert.equal(small.imported, 20);
    assert.equal(big.imported, 20);
    // Read whole twice (the verification read, then the storing read), the
    // file raised the peak by three times its size (144 MiB). Now it is
    // hashed through one reused buffer and stored in fresh 64 KiB chunks,
    // which wait for the collector: at most one copy of the largest item.
    const grown = big.peak - small.peak;
    assert.ok(grown < 60 * MIB, `the peak grew ${(grown / MIB).toFixed(1)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migrate rack's peak RSS is the same for 300 and 1,200 versions (no forced collection)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "migrate-memory-" });
  try {
    await addVersions(`${dir}/n`, { from: 0, to: 300, bytes: 64 * 1024 });
    await addVersions(`${dir}/4n`, { from: 0, to: 1200, bytes: 64 * 1024 });
    const n = await peakOfMigrate(`${dir}/n`, `${dir}/t-n`);
    const four = await peakOfMigrate(`${dir}/4n`, `${dir}/t-4n`);
    assert.equal(n.imported, 300);
    assert.equal(four.imported, 1200);
    // 57 MiB more of files read (twice) and 900 more versions committed.
    const grown = four.peak - n.peak;
    assert.ok(grown < 16 * MIB, `the peak grew ${(grown / MIB).toFixed(1)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
