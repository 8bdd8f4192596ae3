import assert from "node:assert/strict";
import { pinnedFetch } from "./pinned_fetch.ts";

const TLS = new URL("../tests/_tls/", import.meta.url);
const pem = (file: string) => Deno.readTextFileSync(new URL(file, TLS));

/** A receiver on 127.0.0.1 (https with `certFor`'s certificate) that records what it got. */
function receiver(certFor?: string) {
  const got: { url: string; host: string | null; body: string }[] = [];
  const tls = certFor ? { cert: pem(`${certFor}.pem`), key: pem(`${certFor}.key`) } : {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    async (req) => {
      got.push({ url: req.url, host: req.headers.get("host"), body: await req.text() });
      return new Response("ignored body", { status: 202 });
    },
  );
  return { port: server.addr.port, got, [Symbol.asyncDispose]: () => server.shutdown() };
}

function post(url: string) {
  return new Request(url, { method: "POST", body: '{"event":"uploaded"}' });
}

Deno.test("pinnedFetch() sends to the pinned address without resolving the name, URL and Host header kept", async () => {
  await using rx = receiver();
  // hooks.example.test resolves nowhere: the request can only arrive through the pin.
  const url = `http://hooks.example.test:${rx.port}/hook?x=1`;
  const res = await pinnedFetch(post(url), {
    host: "hooks.example.test",
    port: rx.port,
    addresses: ["127.0.0.1"],
  });
  assert.equal(res.status, 202);
  assert.deepEqual(rx.got, [{
    url,
    host: `hooks.example.test:${rx.port}`,
    body: '{"event":"uploaded"}',
  }]);
});

Deno.test("pinnedFetch() over https verifies the certificate against the host name, not the address", async () => {
  const caCerts = [pem("ca.pem")];
  {
    await using rx = receiver("hooks.example.test");
    const pin = { host: "hooks.example.test", port: rx.port, addresses: ["127.0.0.1"] };
    const url = `https://hooks.example.test:${rx.port}/hook`;
    const res = await pinnedFetch(post(url), pin, { caCerts });
    assert.equal(res.status, 202);
    assert.equal(rx.got[0]?.url, url);
  }
  {
    // The pinned address answers with a certificate for another name: refused before any byte of the request.
    await using rx = receiver("other.example.test");
    const pin = { host: "hooks.example.test", port: rx.port, addresses: ["127.0.0.1"] };
    await assert.rejects(
      pinnedFetch(post(`https://hooks.example.test:${rx.port}/hook`), pin, { caCerts }),
      (err: Error) => /not valid for name/.test(String(err.cause)),
    );
    assert.equal(rx.got.length, 0);
  }
});

Deno.test("pinnedFetch() tries the next pinned address when one refuses the connection, and no other", async () => {
  await using rx = receiver();
  const dialed: string[] = [];
  const connect = (address: string, port: number) => {
    dialed.push(address);
    return Deno.connect({ hostname: address, port });
  };
  // 127.0.0.2 is loopback too but nothing listens there on this port.
  const pin = { host: "hooks.example.test", port: rx.port, addresses: ["127.0.0.2", "127.0.0.1"] };
  const res = await pinnedFetch(post(`http://hooks.example.test:${rx.port}/`), pin, { connect });
  assert.equal(res.status, 202);
  assert.deepEqual(dialed, ["127.0.0.2", "127.0.0.1"]);

  const none = { ...pin, addresses: ["127.0.0.2"] };
  await assert.rejects(pinnedFetch(post(`http://hooks.example.test:${rx.port}/`), none));
  assert.equal(rx.got.length, 1);
});

Deno.test("pinnedFetch() refuses a pin for another host than the URL's", async () => {
  await assert.rejects(
    pinnedFetch(post("http://hooks.example.test/"), {
      host: "other.example.test",
      port: 80,
      addresses: ["127.0.0.1"],
    }),
    TypeError,
  );
});
