// A slow stdout never stalls requests: the server's stdout is a pipe nobody
// reads after the startup line. The pipe fills after a few hundred log lines;
// a log written synchronously per batch then blocked the whole server.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

Deno.test("a server whose stdout nobody reads keeps answering requests", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      MAIN,
      "--port=0",
      "--host=127.0.0.1",
      "--storage=memory",
      "--token=t",
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  try {
    // Read stdout only up to the startup line, then never again.
    const reader = child.stdout.getReader();
    let text = "";
    const decoder = new TextDecoder();
    while (!/listening on (http:\/\/\S+)/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`exited before listening: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    const url = /listening on (http:\/\/\S+)/.exec(text)![1]!;
    // ~4,000 lines of ~200 bytes: far more than a pipe holds (64 KiB).
    const deadline = AbortSignal.timeout(120_000);
    for (let round = 0; round < 40; round++) {
      const batch = await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            fetch(`${url}/pkg/acme/nothing-${round}/1.0.0`, { signal: deadline }).then(
              async (r) => (await r.body?.cancel(), r.status),
            ),
        ),
      );
      assert.ok(batch.every((s) => s === 404), `round ${round}: ${batch}`);
    }
    const health = await fetch(`${url}/healthz`, { signal: deadline });
    assert.equal(health.status, 200);
    await health.body?.cancel();
    reader.releaseLock();
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
