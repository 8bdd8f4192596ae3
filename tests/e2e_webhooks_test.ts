// Durable webhooks end to end: main.ts on a real port delivers signed
// webhooks for a Rack upload and a ggui publish to a receiver on 127.0.0.1,
// dead-letters a receiver that keeps failing, delivers what was pending when
// it was killed (SIGKILL) after a restart, exactly as signed, and on SIGTERM
// stops at once, leaving a delivery in flight pending for the next start.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";
import { slowConformanceCheck, startServer } from "./_server.ts";

interface Hit {
  path: string;
  headers: Headers;
  body: string;
}

/**
 * A receiver on 127.0.0.1: `/ok` answers 200, `/fail` 503, `/flaky` as `flaky.ok` says,
 * `/hold` keeps its first request open for 20 s (until disposed) and answers 200 to the others.
 */
function receiver() {
  const hits: Hit[] = [];
  const flaky = { ok: false };
  const holds = new Set<() => void>();
  let held = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    hits.push({ path, headers: req.headers, body: await req.text() });
    if (path === "/hold" && !held) {
      held = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        holds.add(() => (clearTimeout(timer), resolve()));
      });
    }
    const ok = path === "/ok" || path === "/hold" || (path === "/flaky" && flaky.ok);
    return new Response(null, { status: ok ? 200 : 503 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    hits,
    flaky,
    [Symbol.asyncDispose]: () => {
      for (const release of holds) release();
      return server.shutdown();
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertSigned(hit: Hit, secret: string) {
  const mac = createHmac("sha256", secret).update(hit.body).digest("hex");
  assert.equal(hit.headers.get("x-webhook-signature"), `sha256=${mac}`);
  const ts = hit.headers.get("x-webhook-timestamp")!;
  const stamped = createHmac("sha256", secret).update(`${ts}.${hit.body}`).digest("hex");
  assert.equal(hit.headers.get("x-webhook-signature-timestamped"), `sha256=${stamped}`);
  assert.equal(hit.headers.get("user-agent"), "Rack-Registry-Webhook/1.0");
  assert.equal(hit.headers.get("x-webhook-event"), JSON.parse(hit.body).event);
}

Deno.test("webhooks end to end: signed deliveries for both surfaces, dead letters, and a SIGKILL with deliveries pending", async () => {
  await using rx = receiver();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/auth.json`,
      JSON.stringify({ "@company": [{ token: "ci-token", publish: true }] }),
    );
    await Deno.writeTextFile(
      `${dir}/webhooks.json`,
      JSON.stringify({
        webhooks: [
          {
            url: `${rx.url}/ok`,
            secret: "ok-secret",
            events: ["uploaded", "version.created", "package.published"],
            enabled: true,
          },
          { url: `${rx.url}/fail`, secret: "fail-secret", events: ["uploaded"], enabled: true },
          {
            url: `${rx.url}/flaky`,
            secret: "flaky-secret",
            events: ["package.published"],
            enabled: true,
          },
        ],
      }),
    );
    const args = [
      `--storage=kv:${dir}/registry.kv`,
      "--token=ops-token",
      "--subject=ops",
      `--auth-config=${dir}/auth.json`,
      `--webhook-config=${dir}/webhooks.json`,
      "--webhook-allow-hosts=127.0.0.1",
      "--webhook-retry-delays=1000,1500,2000",
      "--log-requests=false",
    ];
    let server = await startServer(args);
    // A Rack upload and a ggui publish.
    const up = await fetch(uploadRequest(
      await makePackage({ item: makeItem({ namespace: "@company" }) }),
      { url: server.url, token: "ci-token" },
    ));
    assert.equal(up.status, 201, await up.text());
    const key = await makeKey();
    const auth = { authorization: "Bearer ops-token", "content-type": "application/json" };
    await (await fetch(`${server.url}/author-keys`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    })).body?.cancel();
    const pub = await fetch(`${server.url}/publish`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify(await makeGadget(key)),
    });
    assert.equal(pub.status, 201, await pub.text());

    // The flaky receiver fails its first attempt: kill the server while deliveries are pending.
    // Kill between attempts: once every flaky delivery has recorded a failed attempt (a sender
    // killed mid-attempt would leave its lease to expire first, as designed, after 60 s).
    const pendingFlaky = async () => {
      const res = await fetch(`${server.url}/admin/webhooks/deliveries?state=pending`, {
        headers: auth,
      });
      return ((await res.json()).items ?? []).filter((d: { url: string }) =>
        d.url.endsWith("/flaky")
      ) as { attempts: number }[];
    };
    await until("a failed attempt on every flaky delivery", async () => {
      const rows = await pendingFlaky();
      return rows.length === 2 && rows.every((r) => r.attempts >= 1);
    }, 10_000);
    await server.kill();
    const tried = rx.hits.filter((h) => h.path === "/flaky");
    const ids = new Set(tried.map((h) => h.headers.get("x-webhook-delivery")));
    const mark = rx.hits.length;
    rx.flaky.ok = true;
    server = await startServer(args);
    try {
      const ok = () => rx.hits.filter((h) => h.path === "/ok");
      await until("four deliveries to /ok", () => ok().length >= 4);
      for (const hit of ok()) assertSigned(hit, "ok-secret");
      const rackEvents = ok().filter((h) => JSON.parse(h.body).namespace === "@company")
        .map((h) => h.headers.get("x-webhook-event"));
      assert.deepEqual(rackEvents, ["uploaded", "version.created", "package.published"]);
      assert.equal(
        ok().filter((h) => h.headers.get("x-webhook-event") === "package.published").length,
        2,
        "one for the Rack upload, one for the ggui publish",
      );
      const rack = JSON.parse(ok()[0]!.body);
      assert.deepEqual(Object.keys(rack), [
        "event",
        "name",
        "version",
        "namespace",
        "timestamp",
        "path",
      ]);
      assert.equal(rack.path, "@company/quality/husky/1.0.0");

      // What was pending at the SIGKILL arrives after the restart, exactly as signed.
      const flakyAfter = () => rx.hits.slice(mark).filter((h) => h.path === "/flaky");
      await until(
        "the pending deliveries after a restart",
        () =>
          [...ids].every((id) =>
            flakyAfter().some((h) => h.headers.get("x-webhook-delivery") === id)
          ),
      );
      assert.ok(ids.size >= 1);
      for (const hit of flakyAfter()) assertSigned(hit, "flaky-secret");

      // The failing receiver: 4 attempts in all (across the restart), then a dead letter an admin can list.
      const deadOf = async () => {
        const res = await fetch(`${server.url}/admin/webhooks/deliveries?state=dead`, {
          headers: auth,
        });
        return ((await res.json()).items ?? []) as {
          url: string;
          attempts: number;
          lastStatus?: number;
        }[];
      };
      await until(
        "a dead letter",
        async () => (await deadOf()).some((d) => d.url.endsWith("/fail")),
      );
      const fails = rx.hits.filter((h) => h.path === "/fail");
      assert.equal(fails.length, 4);
      assert.equal(new Set(fails.map((h) => h.headers.get("x-webhook-delivery"))).size, 1);
      for (const hit of fails) assertSigned(hit, "fail-secret");
      const dead = (await deadOf()).filter((d) => d.url.endsWith("/fail"));
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.attempts, 4);
      assert.equal(dead[0]!.lastStatus, 503);
      assert.equal((await deadOf()).length, 1, "nothing else was dead-lettered");
    } finally {
      await server.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a subscription made through the admin API gets signed deliveries from a real server until it is deleted", async () => {
  await using rx = receiver();
  const dir = await Deno.makeTempDir();
  try {
    await using server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      "--token=ops-token",
      "--subject=ops",
      "--webhook-allow-hosts=127.0.0.1",
      "--log-requests=false",
    ]);
    const auth = { authorization: "Bearer ops-token", "content-type": "application/json" };
    const made = await fetch(`${server.url}/admin/webhooks`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        url: `${rx.url}/ok`,
        secret: "admin-made-secret",
        events: ["package.published"],
      }),
    });
    assert.equal(made.status, 201);
    const sub = await made.json();
    const key = await makeKey();
    await (await fetch(`${server.url}/author-keys`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    })).body?.cancel();
    const publish = async (version: string) => {
      const res = await fetch(`${server.url}/publish`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify(await makeGadget(key, { manifest: { version } })),
      });
      assert.equal(res.status, 201, await res.text());
    };
    await publish("1.0.0");
    await until("a delivery to the admin-made subscription", () => rx.hits.length >= 1);
    assertSigned(rx.hits[0]!, "admin-made-secret");
    assert.equal(JSON.parse(rx.hits[0]!.body).version, "1.0.0");

    const gone = await fetch(`${server.url}/admin/webhooks/${sub.id}`, {
      method: "DELETE",
      headers: auth,
    });
    assert.equal(gone.status, 200);
    await gone.body?.cancel();
    await publish("1.0.1");
    // The publish after the deletion wrote no delivery for it: nothing pending, one delivered.
    const list = async (state: string) =>
      ((await (await fetch(`${server.url}/admin/webhooks/deliveries?state=${state}`, {
        headers: auth,
      })).json()).items as { subscription: string }[]).filter((d) => d.subscription === sub.id);
    await until(
      "the first delivery recorded as delivered",
      async () => (await list("delivered")).length === 1,
    );
    assert.equal((await list("pending")).length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether a TCP connection to `port` on 127.0.0.1 is refused. */
async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return true;
    throw err;
  }
}

Deno.test("SIGTERM finishes requests in flight, then stops accepting, aborts a delivery in flight and leaves it pending for the next start", async () => {
  await using rx = receiver();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/webhooks.json`,
      JSON.stringify({
        webhooks: [{
          url: `${rx.url}/hold`,
          secret: "hold-secret",
          events: ["package.published"],
          enabled: true,
        }],
      }),
    );
    const args = [
      `--storage=kv:${dir}/registry.kv`,
      "--token=ops-token",
      "--subject=ops",
      `--webhook-config=${dir}/webhooks.json`,
      "--webhook-allow-hosts=127.0.0.1",
      "--log-requests=false",
    ];
    const auth = { authorization: "Bearer ops-token", "content-type": "application/json" };
    let server = await startServer(args);
    try {
      const key = await makeKey();
      await (await fetch(`${server.url}/author-keys`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
      })).body?.cancel();
      const pub = await fetch(`${server.url}/publish`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify(await makeGadget(key)),
      });
      assert.equal(pub.status, 201, await pub.text());
      await until("the delivery held open by the receiver", () => rx.hits.length === 1, 10_000);

      const port = Number(new URL(server.url).port);
      // A request still arriving when SIGTERM comes is read to its end and answered.
      const inFlight = slowConformanceCheck(server.url);
      await new Promise((r) => setTimeout(r, 150));
      const exited = server.stop();
      const answered = await inFlight;
      assert.equal(answered.status, 200, "the request in flight finished");
      assert.equal(typeof (await answered.json()).ok, "boolean");
      // (b) New connections are refused (the old order kept serving for the 20 s hold).
      await until("new connections refused after SIGTERM", () => refused(port), 10_000);
      // (a) The process exits without waiting for the receiver (10 s only guards a hang).
      let guard: ReturnType<typeof setTimeout> | undefined;
      const code = await Promise.race([
        exited,
        new Promise<string>((r) => guard = setTimeout(() => r("still running after 10 s"), 10_000)),
      ]).finally(() => clearTimeout(guard));
      assert.equal(code, 0, server.output());
      assert.equal(rx.hits.length, 1);
    } finally {
      await server.kill();
    }

    // (c) After a restart on the same KV file the delivery goes again, the same one, signed.
    server = await startServer(args);
    try {
      await until("the delivery sent again after the restart", () => rx.hits.length >= 2);
      const [first, again] = rx.hits as [Hit, Hit];
      assert.equal(again.path, "/hold");
      assertSigned(again, "hold-secret");
      assert.equal(again.body, first.body);
      assert.equal(
        again.headers.get("x-webhook-delivery"),
        first.headers.get("x-webhook-delivery"),
      );
      const delivered = async () =>
        (await (await fetch(`${server.url}/admin/webhooks/deliveries?state=delivered`, {
          headers: auth,
        })).json()).items as { attempts: number; lastError?: string }[];
      await until(
        "the delivery recorded as delivered",
        async () => (await delivered()).length === 1,
      );
      // The attempt SIGTERM cut short was not counted against the retries.
      assert.equal((await delivered())[0]!.attempts, 1);
      assert.equal(rx.hits.length, 2);
    } finally {
      await server.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts does not start with a webhooks.json entry on a private network, names the entry, and starts once the host is allow-listed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/webhooks.json`;
    const entry = (url: string) => ({ url, secret: "s3cret", events: ["uploaded"], enabled: true });
    // 2002:a9fe:a9fe:: is 6to4 of 169.254.169.254 (the cloud metadata address).
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        webhooks: [entry("https://hooks.example/ok"), entry("http://[2002:a9fe:a9fe::]/hook")],
      }),
    );
    const args = ["--storage=memory", "--token=ops-token", `--webhook-config=${file}`];
    await assert.rejects(
      startServer([...args, "--log-requests=false"]),
      (err: Error) => {
        // A configuration file with a refused entry is a problem of the environment: exit 1.
        assert.match(err.message, /exited with 1 before listening/);
        assert.match(
          err.message,
          /registry-server: Could not load webhooks\.json: entry 1 \('http:\/\/\[2002:a9fe:a9fe::\]\/hook'\) is refused: Webhook host '2002:a9fe:a9fe::' is on a private or loopback network; allow it with --webhook-allow-hosts/,
        );
        return true;
      },
    );
    await using server = await startServer([
      ...args,
      "--webhook-allow-hosts=2002:a9fe:a9fe::",
      "--log-requests=false",
    ]);
    const listed = await fetch(`${server.url}/admin/webhooks`, {
      headers: { authorization: "Bearer ops-token" },
    });
    assert.equal((await listed.json()).subscriptions.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
