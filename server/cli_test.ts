import assert from "node:assert/strict";
import { isCliCommand, parseGrant, runCli } from "./cli.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

Deno.test("parseGrant() reads a namespace, a pattern or * with comma-separated actions", () => {
  assert.deepEqual(parseGrant("@acme:read,publish"), {
    namespace: "@acme",
    actions: ["read", "publish"],
  });
  assert.deepEqual(parseGrant("*:admin"), { namespace: "*", actions: ["admin"] });
  assert.deepEqual(parseGrant("@team-*:yank"), { namespace: "@team-*", actions: ["yank"] });
  assert.throws(() => parseGrant("@acme"), /expected <namespace>:<actions>/);
  assert.throws(() => parseGrant("@acme:own"), /Invalid action 'own'/);
  assert.throws(() => parseGrant("@acme:"), /no actions/);
});

Deno.test("isCliCommand() recognises token and gc, not server flags", () => {
  assert.ok(isCliCommand(["token", "list"]));
  assert.ok(isCliCommand(["gc"]));
  assert.ok(!isCliCommand(["--port=0"]));
  assert.ok(!isCliCommand([]));
});

Deno.test("runCli() creates, lists and revokes tokens on a KV file, flags in either form", async () => {
  const dir = await Deno.makeTempDir();
  const store = ["--storage", `kv:${dir}/r.kv`, `--data-dir=${dir}`];
  try {
    const c = capture();
    const code = await runCli(
      ["token", "create", "--subject", "ci", "--grant", "*:read", "--label=CI", ...store],
      {},
      c.io,
    );
    assert.equal(code, 0, c.err.join("\n"));
    const created = JSON.parse(c.out.join("\n"));
    assert.match(created.secret, /^xr_/);
    assert.equal(created.token.label, "CI");
    const l = capture();
    assert.equal(await runCli(["token", "list", ...store], {}, l.io), 0);
    assert.equal(JSON.parse(l.out.join("\n"))[0].id, created.token.id);
    assert.ok(!l.out.join("").includes(created.secret));
    const r = capture();
    assert.equal(await runCli(["token", "revoke", created.token.id, ...store], {}, r.io), 0);
    const l2 = capture();
    await runCli(["token", "list", "--subject=ci", ...store], {}, l2.io);
    assert.ok(JSON.parse(l2.out.join("\n"))[0].revokedAt);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() answers usage errors with exit code 2 and faults with 1", async () => {
  const dir = await Deno.makeTempDir();
  const store = [`--storage=kv:${dir}/r.kv`];
  try {
    const a = capture();
    assert.equal(await runCli(["token", "create", ...store], {}, a.io), 2);
    assert.match(a.err[0]!, /needs --subject/);
    const b = capture();
    assert.equal(await runCli(["token", "frobnicate", ...store], {}, b.io), 2);
    const c = capture();
    assert.equal(
      await runCli(["token", "create", "--subject=x", "--grant=bad", ...store], {}, c.io),
      1,
    );
    const d = capture();
    assert.equal(await runCli(["gc", "--grace=soon", ...store], {}, d.io), 1);
    assert.match(d.err[0]!, /Invalid duration 'soon'/);
    const e = capture();
    assert.equal(await runCli(["token", "list", "--port=x"], {}, e.io), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export and import move a store from fs to KV; a tampered file is refused", async () => {
  const dir = await Deno.makeTempDir();
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) };
  try {
    const fsStore = [`--storage=fs:${dir}/fs`];
    assert.equal(
      await runCli(["token", "create", "--subject=ci", "--grant=*:read", ...fsStore], {}, io),
      0,
    );
    assert.equal(await runCli(["export", `--out=${dir}/dump.jsonl`, ...fsStore], {}, io), 0);
    const kvStore = [`--storage=kv:${dir}/kv/registry.kv`];
    assert.equal(await runCli(["import", `--in=${dir}/dump.jsonl`, ...kvStore], {}, io), 0);
    out.length = 0;
    assert.equal(await runCli(["token", "list", ...kvStore], {}, io), 0);
    assert.deepEqual(JSON.parse(out.join("\n")).map((t: { subject: string }) => t.subject), ["ci"]);
    const text = await Deno.readTextFile(`${dir}/dump.jsonl`);
    await Deno.writeTextFile(`${dir}/bad.jsonl`, text.replace('"ci"', '"mallory"'));
    assert.equal(
      await runCli(["import", `--in=${dir}/bad.jsonl`, `--storage=kv:${dir}/kv2/r.kv`], {}, io),
      1,
    );
    assert.match(err.at(-1)!, /digest does not match/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseGrant() and token errors say what a valid value looks like", () => {
  assert.throws(
    () => parseGrant("acme:read"),
    /namespace is @scope, a pattern like @team-\*, or \* \(got 'acme'\)/,
  );
  assert.throws(() => parseGrant("@acme:fly"), /actions: read, publish, yank, admin/);
  assert.deepEqual(parseGrant("@team-*:read,publish"), {
    namespace: "@team-*",
    actions: ["read", "publish"],
  });
});
