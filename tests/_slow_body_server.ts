// Child process of tests/slow_body_test.ts: the registry on a real port over
// memory stores (every body then lands in memory), run with
// `--v8-flags=--expose-gc`. It prints `listening <url>`, then answers each
// line on stdin with its memory after a full garbage collection, as one JSON
// line on stdout: what is still held, not what waits to be collected.
// Usage: _slow_body_server.ts <token> <admin token>
import { staticTokenAuthenticator } from "../core/auth.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createRegistryServer } from "../server/serve.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

const [token, adminToken] = Deno.args;
const rack = parseAuthConfig(null, { adminToken: adminToken! }).auth;
const server = createRegistryServer({
  storage: new MemoryRegistryStorage(),
  bundles: new MemoryBundleStorage(),
  authenticator: staticTokenAuthenticator({ token: token!, subject: "ci" }),
  rackAuth: () => Promise.resolve(rack),
});
console.log(`listening ${server.url}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  for (const _ of decoder.decode(chunk).split("\n").slice(1)) {
    // Array buffers are swept after the collection: collect again once they are.
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    console.log(JSON.stringify(Deno.memoryUsage()));
  }
}
await server.shutdown();
