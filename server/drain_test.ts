// Graceful shutdown over a real socket: an upload whose body is still
// arriving when shutdown starts is read to its end and answered; a request
// arriving meanwhile gets a 503; then the port is closed.
import assert from "node:assert/strict";
import { createRegistryServer } from "./serve.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { drainable } from "./drain.ts";
import { slowConformanceCheck } from "../tests/_server.ts";

Deno.test("shutdown lets a request whose body is still arriving finish, refuses new ones with 503, then closes", async () => {
  const server = createRegistryServer({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
  });
  const upload = slowConformanceCheck(server.url);
  await new Promise((r) => setTimeout(r, 150));
  const closing = server.shutdown();
  const late = await fetch(`${server.url}/healthz`);
  assert.equal(late.status, 503);
  assert.equal(late.headers.get("retry-after"), "1");
  assert.equal((await late.json()).code, "unavailable");
  const res = await upload;
  assert.equal(res.status, 200, "the whole body was read and checked");
  assert.equal(typeof (await res.json()).ok, "boolean");
  await closing;
  await assert.rejects(fetch(`${server.url}/healthz`));
});

Deno.test("drain() gives up after the grace period when a request never answers", async () => {
  const d = drainable(() => new Promise<Response>(() => {}));
  const info = {
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  } as Deno.ServeHandlerInfo<Deno.NetAddr>;
  void d.fetch(new Request("http://x/"), info);
  assert.equal(d.inFlight(), 1);
  await d.drain(20);
  assert.equal(d.inFlight(), 1, "still pending: drain returned on the grace period");
});
