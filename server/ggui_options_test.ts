import assert from "node:assert/strict";
import { parseServerArgs } from "./config.ts";
import { gguiServerOptions } from "./ggui_options.ts";
import { acceptsPublicEd25519 } from "../core/ggui/sigstore.ts";
import { makeTestSigstore } from "../tests/_sigstore_fixtures.ts";

function parse(args: string[]) {
  const r = parseServerArgs(["--storage=memory", ...args], {});
  if (!r.ok) throw new Error(r.help ? "help" : r.error);
  return r.config;
}

Deno.test("the ggui lane flags parse, with the defaults of the original when absent", () => {
  const none = parse([]);
  assert.equal(none.blueprintProbe, undefined);
  assert.equal(none.publicEd25519, undefined);
  assert.equal(none.sigstoreTrustedRoot, undefined);
  const all = parse([
    "--blueprint-probe",
    "--public-ed25519",
    "--sigstore-trusted-root=/x/root.json",
  ]);
  assert.equal(all.blueprintProbe, true);
  assert.equal(all.publicEd25519, true);
  assert.equal(all.sigstoreTrustedRoot, "/x/root.json");
  assert.equal(
    parse(["--sigstore-tuf-mirror", "https://tuf.example"]).sigstoreTufMirror,
    "https://tuf.example",
  );
  const both = parseServerArgs(
    ["--storage=memory", "--sigstore-trusted-root=a", "--sigstore-tuf-mirror=https://b"],
    {},
  );
  assert.ok(!both.ok && !both.help && /exclude each other/.test(both.error));
  const bad = parseServerArgs(["--storage=memory", "--sigstore-tuf-mirror=ftp://b"], {});
  assert.ok(!bad.ok && !bad.help && /must be an http\(s\) URL/.test(bad.error));
});

Deno.test("gguiServerOptions() leaves the default code gates and wires the lanes the flags name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plain = await gguiServerOptions(parse([]));
    // The app's default gates (the parser, loaded on first use) apply.
    assert.ok(!("codeGates" in plain));
    assert.equal(plain.sigstore, undefined);
    assert.equal(plain.blueprintProbe, undefined);

    const sig = await makeTestSigstore();
    const rootPath = `${dir}/trusted_root.json`;
    await Deno.writeTextFile(rootPath, JSON.stringify(sig.trustedRoot));
    const lane = await gguiServerOptions(parse([`--sigstore-trusted-root=${rootPath}`]));
    const payload = new TextEncoder().encode("p");
    assert.equal((await lane.sigstore!.verify(payload, await sig.envelope(payload))).valid, true);
    assert.equal(acceptsPublicEd25519(lane.sigstore), false);

    const lenient = await gguiServerOptions(parse(["--public-ed25519"]));
    assert.equal(acceptsPublicEd25519(lenient.sigstore), true);

    await assert.rejects(
      gguiServerOptions(parse([`--sigstore-trusted-root=${dir}/missing.json`])),
      /Could not read the sigstore trusted root/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
