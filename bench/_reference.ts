// Reference servers for the load benchmark, each answering a fixed payload:
//   hono   — a bare Hono route on Deno.serve answering a fixed 300-byte JSON
//   file   — the same bytes streamed from a file on each request
//   memory — the same bytes from memory (a Uint8Array)
// Usage: deno run -A bench/_reference.ts <hono|file|memory> <size-bytes> <file-path>
import { Hono } from "hono";

const [mode = "hono", sizeText = "300", path = "/tmp/reference.bin"] = Deno.args;
const size = Number(sizeText);
const body = new Uint8Array(size);
if (mode === "hono" || size === 300) {
  const json = JSON.stringify({ ok: true, pad: "x".repeat(Math.max(0, size - 22)) });
  body.set(new TextEncoder().encode(json).subarray(0, size));
} else {
  for (let i = 0; i < size; i++) body[i] = (i * 31) & 0xff;
}
await Deno.writeFile(path, body);

const app = new Hono();
app.get("/", (c) => c.body(body, 200, { "content-type": "application/json" }));

const handler = mode === "hono"
  ? app.fetch
  : mode === "memory"
  ? () => new Response(body, { headers: { "content-type": "application/octet-stream" } })
  : async () => {
    const file = await Deno.open(path);
    return new Response(file.readable, {
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    });
  };

Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, handler);
