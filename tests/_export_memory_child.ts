// Child process of tests/export_memory_test.ts, run with
// `--v8-flags=--expose-gc`: exports a store of `<blobs>` small blobs on the
// fs blob store (rows in memory) and prints, as one JSON line, the live heap
// (after full collections) once a quarter of the blobs were exported and
// again at the end: what the export still holds, not what waits to be
// collected.
// Usage: _export_memory_child.ts <dir> <blobs>
import { exportStore } from "../core/transfer.ts";
import { FsBundleStorage } from "../storage/fs.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";

const [dir, count] = Deno.args;
const blobs = Number(count);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

/** Live heap bytes after full collections (array buffers are swept after one). */
async function liveHeap(): Promise<number> {
  gc!();
  await new Promise((r) => setTimeout(r, 50));
  gc!();
  return Deno.memoryUsage().heapUsed;
}

await using bundles = await FsBundleStorage.open({ root: dir! });
const enc = new TextEncoder();
for (let i = 0; i < blobs; i++) await bundles.put(enc.encode(`blob ${i} `.repeat(20)));
const ctx = { storage: new MemoryRegistryStorage(), bundles, clock: () => new Date() };
let quarter = 0;
let exported = 0;
for await (const line of exportStore(ctx)) {
  if (line.startsWith('{"t":"blob"') && ++exported === Math.floor(blobs / 4)) {
    quarter = await liveHeap();
  }
}
console.log(JSON.stringify({ exported, quarter, end: await liveHeap() }));
