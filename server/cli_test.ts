import assert from "node:assert/strict";
import { isCliCommand, parseGrant, runCli } from "./cli.ts";
import { FsBundleStorage } from "../storage/fs.ts";

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
    assert.equal(b.err[0], "registry: unknown token command 'frobnicate'");
    const c = capture();
    assert.equal(
      await runCli(["token", "create", "--subject=x", "--grant=bad", ...store], {}, c.io),
      2,
    );
    assert.match(c.err[0]!, /^registry: Invalid grant 'bad'/);
    const d = capture();
    assert.equal(await runCli(["gc", "--grace=soon", ...store], {}, d.io), 2);
    assert.deepEqual(d.err, [
      "registry: Invalid --grace 'soon': give a duration such as 30m, 1h or 7d",
    ]);
    const e = capture();
    assert.equal(await runCli(["token", "list", "--port=x"], {}, e.io), 2);
    // A fault once the store is open is 1.
    await runCli(["token", "create", "--subject=ci", ...store], {}, capture().io);
    const f = capture();
    assert.equal(await runCli(["token", "revoke", "tok_missing", ...store], {}, f.io), 1);
    assert.deepEqual(f.err, ["registry: token 'tok_missing' not found"]);
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

/** A KV store in a temp dir that exists (a token was created in it) and its flags. */
async function makeStore() {
  const dir = await Deno.makeTempDir();
  const store = [`--storage=kv:${dir}/r.kv`];
  const c = capture();
  const code = await runCli(
    ["token", "create", "--subject=ci", "--grant=*:read", ...store],
    {},
    c.io,
  );
  assert.equal(code, 0, c.err.join("\n"));
  const id = JSON.parse(c.out.join("\n")).token.id as string;
  return {
    dir,
    store,
    id,
    async tokens(): Promise<{ id: string; revokedAt?: string; expiresAt?: string }[]> {
      const l = capture();
      assert.equal(await runCli(["token", "list", ...store], {}, l.io), 0, l.err.join("\n"));
      return JSON.parse(l.out.join("\n"));
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("runCli() refuses `gc dry-run` (a typo for --dry-run) with exit 2 and deletes nothing", async () => {
  await using s = await makeStore();
  // An orphan blob touched an hour ago, in the store's default bundles directory.
  const bundles = await FsBundleStorage.open({
    root: `${s.dir}/bundles`,
    now: () => new Date(Date.now() - 3_600_000),
  });
  const orphan = await bundles.put(new TextEncoder().encode("orphan"));
  await bundles.close();
  for (
    const [args, line] of [
      [["gc", "dry-run", "--grace=1m"], "unexpected argument 'dry-run' (did you mean --dry-run?)"],
      [
        ["gc", "--grace", "1m", "dry-run"],
        "unexpected argument 'dry-run' (did you mean --dry-run?)",
      ],
      [["gc", "grace=1m"], "unexpected argument 'grace=1m' (did you mean --grace=1m?)"],
      [["gc", "now"], "unexpected argument 'now' (gc takes no arguments)"],
      [["gc", "--subject=x"], "gc does not take --subject"],
    ] as const
  ) {
    const c = capture();
    assert.equal(await runCli([...args, ...s.store], {}, c.io), 2, args.join(" "));
    assert.equal(c.err[0], `registry: ${line}`);
    assert.match(c.err[1]!, /^Usage:/);
    assert.deepEqual(c.out, []);
  }
  // Still there: a real dry run lists it, and it still exists afterwards.
  const c = capture();
  assert.equal(await runCli(["gc", "--dry-run", "--grace=1m", ...s.store], {}, c.io), 0);
  assert.deepEqual(
    JSON.parse(c.out.join("\n")).orphans.map((o: { sha256: string }) => o.sha256),
    [orphan.sha256],
  );
  const again = await FsBundleStorage.open({ root: `${s.dir}/bundles` });
  try {
    assert.ok(await again.stat(orphan.sha256));
  } finally {
    await again.close();
  }
});

Deno.test("runCli() refuses extra arguments and other commands' flags to token commands and changes nothing", async () => {
  await using s = await makeStore();
  for (
    const [args, line] of [
      [["token", "revoke", s.id, "b"], "unexpected argument 'b' (token revoke takes one token id)"],
      [["token", "revoke", "--dry-run", s.id], "token revoke does not take --dry-run"],
      [["token", "list", "extra"], "unexpected argument 'extra' (token list takes no arguments)"],
      [
        ["token", "list", "subject=ci"],
        "unexpected argument 'subject=ci' (did you mean --subject=ci?)",
      ],
      [
        ["token", "create", "--subject=x", "--grant=*:read", "extra"],
        "unexpected argument 'extra' (token create takes no arguments)",
      ],
      [
        ["token", "create", "--subject=x", "new-namespace"],
        "unexpected argument 'new-namespace' (did you mean --new-namespace?)",
      ],
      [["token", "revoke"], "token revoke needs a token id"],
      [["token"], "token needs a command: create, list or revoke"],
      [["token", "--storage=memory"], "token needs a command: create, list or revoke"],
    ] as const
  ) {
    const c = capture();
    assert.equal(await runCli([...args, ...s.store], {}, c.io), 2, args.join(" "));
    assert.equal(c.err[0], `registry: ${line}`);
    assert.match(c.err[1]!, /^Usage:/);
  }
  const tokens = await s.tokens();
  assert.deepEqual(tokens.map((t) => t.id), [s.id]);
  assert.equal(tokens[0]!.revokedAt, undefined);
  const h = capture();
  assert.equal(await runCli(["token", "list", "--help"], {}, h.io), 0);
  assert.match(h.out[0]!, /^Usage:/);
});

Deno.test("runCli() refuses an expiry that is not in the future and durations past 100 years, naming the flag", async () => {
  await using s = await makeStore();
  const form = "give a future date (2027-01-31) or a duration (30d, 12h)";
  for (
    const [args, line] of [
      [
        ["--expires=2020-01-01"],
        `Invalid --expires '2020-01-01': it is not in the future; ${form}`,
      ],
      [["--expires=0d"], `Invalid --expires '0d': it is not in the future; ${form}`],
      [
        ["--expires=99999999999999999d"],
        `Invalid --expires '99999999999999999d': at most 100 years (36500d); ${form}`,
      ],
      [["--expires=36501d"], `Invalid --expires '36501d': at most 100 years (36500d); ${form}`],
      [["--expires=March 7"], `Invalid --expires 'March 7': ${form}`],
      [["--expires=5"], `Invalid --expires '5': ${form}`],
    ] as const
  ) {
    const c = capture();
    const code = await runCli(
      ["token", "create", "--subject=x", "--grant=*:read", ...args, ...s.store],
      {},
      c.io,
    );
    assert.equal(code, 2, args.join(" "));
    assert.deepEqual(c.err, [`registry: ${line}`]);
  }
  const g = capture();
  assert.equal(await runCli(["gc", "--grace=99999999999999999999d", ...s.store], {}, g.io), 2);
  assert.deepEqual(g.err, [
    "registry: Invalid --grace '99999999999999999999d': at most 100 years (36500d); give a duration such as 30m, 1h or 7d",
  ]);
  assert.deepEqual((await s.tokens()).map((t) => t.id), [s.id]);
  // A future date and a duration are fine.
  for (const expires of ["30d", "2999-01-31"]) {
    const c = capture();
    const code = await runCli(
      ["token", "create", "--subject=x", "--grant=*:read", `--expires=${expires}`, ...s.store],
      {},
      c.io,
    );
    assert.equal(code, 0, c.err.join("\n"));
    assert.ok(Date.parse(JSON.parse(c.out.join("\n")).token.expiresAt) > Date.now() + 86_400_000);
  }
});

Deno.test("runCli() refuses a store that does not exist and creates no directories", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/nonexistent/dir`;
    for (
      const args of [
        ["token", "list", `--storage=kv:${missing}/r.kv`],
        ["token", "revoke", "tok_x", `--storage=kv:${missing}/r.kv`],
        ["gc", "--dry-run", `--storage=fs:${missing}`],
        ["export", `--out=${dir}/x.jsonl`, `--storage=kv:${dir}/r.kv`],
      ] as const
    ) {
      const c = capture();
      assert.equal(await runCli(args, {}, c.io), 1, args.join(" "));
      assert.equal(c.err.length, 1);
      assert.match(
        c.err[0]!,
        /^registry: the store (kv|fs):\S+ does not exist \(operator commands act on an existing store: check --storage and --data-dir\)$/,
      );
    }
    // Blobs too: an existing row store with a mistyped --bundles.
    await runCli(["token", "create", "--subject=ci", `--storage=kv:${dir}/r.kv`], {}, capture().io);
    const b = capture();
    assert.equal(
      await runCli(["gc", `--storage=kv:${dir}/r.kv`, `--bundles=fs:${missing}`], {}, b.io),
      1,
    );
    assert.deepEqual(b.err, [
      `registry: the store fs:${missing} does not exist (operator commands act on an existing store: check --bundles and --data-dir)`,
    ]);
    // token create may start a store (the first token before the first start), not directories.
    const c = capture();
    const code = await runCli(
      ["token", "create", "--subject=ci", `--storage=kv:${missing}/r.kv`],
      {},
      c.io,
    );
    assert.equal(code, 1);
    assert.deepEqual(c.err, [
      `registry: the directory '${missing}' of the store kv:${missing}/r.kv does not exist (operator commands create no directories: check --storage and --data-dir)`,
    ]);
    const n = capture();
    assert.equal(
      await runCli(["token", "create", "--subject=ci", `--storage=kv:${dir}/new.kv`], {}, n.io),
      0,
    );
    // (Its default bundles directory, fs:<dir>/bundles, is r.kv's and exists.)
    assert.deepEqual(n.err, [`registry: creating a new store: kv:${dir}/new.kv`]);
    assert.ok(!(await exists(`${dir}/nonexistent`)));
    assert.ok(!(await exists(`${dir}/x.jsonl`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runCli() says in one line which store failed to open and why, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.kv`, "not a database ".repeat(100));
    await Deno.writeTextFile(`${dir}/file`, "a file, not a directory");
    await Deno.mkdir(`${dir}/fs`);
    for (
      const [args, line] of [
        [
          ["token", "list", `--storage=kv:${dir}/bad.kv`, `--bundles=fs:${dir}/fs`],
          `the store kv:${dir}/bad.kv: file is not a database`,
        ],
        [
          ["gc", "--dry-run", `--storage=fs:${dir}/file`, `--bundles=fs:${dir}/fs`],
          `the store fs:${dir}/file: File exists`,
        ],
        [
          ["token", "list", `--storage=fs:${dir}/fs`, `--bundles=fs:${dir}/file`],
          `the bundle store fs:${dir}/file: File exists`,
        ],
      ] as const
    ) {
      const c = capture();
      assert.equal(await runCli(args, {}, c.io), 1, args.join(" "));
      assert.equal(c.err.length, 1, c.err.join("\n"));
      assert.ok(c.err[0]!.startsWith(`registry: could not open ${line}`), c.err[0]);
      assert.ok(!c.err[0]!.includes("    at "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("audit lists the audit log with the admin API's filters, as a table on a terminal and JSON with --json", async () => {
  const dir = await Deno.makeTempDir();
  const store = [`--storage=kv:${dir}/r.kv`];
  try {
    const setup = { out: () => {}, err: () => {} };
    assert.equal(
      await runCli(["token", "create", "--subject=ci", "--grant=*:read", ...store], {}, setup),
      0,
    );
    assert.equal(
      await runCli(["token", "create", "--subject=ops", "--grant=*:read", ...store], {}, setup),
      0,
    );
    const table: string[] = [];
    const io = { out: (l: string) => void table.push(l), err: () => {}, terminal: true };
    assert.equal(await runCli(["audit", "--action=token.create", ...store], {}, io), 0);
    const lines = table.join("\n").split("\n");
    assert.match(lines[0]!, /^AT\s+ACTOR\s+ACTION\s+TARGET\s+OUTCOME\s+IP$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /cli\s+token\.create\s+\S+\s+ok/);
    const json: string[] = [];
    const jio = { out: (l: string) => void json.push(l), err: () => {}, terminal: true };
    assert.equal(
      await runCli(["audit", "--json", "--limit=1", "--outcome=ok", ...store], {}, jio),
      0,
    );
    const page = JSON.parse(json.join("\n"));
    assert.equal(page.items.length, 1);
    assert.ok(page.cursor);
    const errs: string[] = [];
    const bad = { out: () => {}, err: (l: string) => void errs.push(l) };
    assert.equal(await runCli(["audit", "--outcome=maybe", ...store], {}, bad), 2);
    assert.deepEqual(errs, ["registry: Invalid --outcome 'maybe': ok or refused"]);
    const tokens: string[] = [];
    const tio = { out: (l: string) => void tokens.push(l), err: () => {}, terminal: true };
    assert.equal(await runCli(["token", "list", ...store], {}, tio), 0);
    assert.match(tokens.join("\n"), /^ID\s+SUBJECT\s+LABEL\s+GRANTS/);
    assert.match(tokens.join("\n"), /\bops\b.*\*:read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export and import print one summary line, and a progress line only on a terminal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fsStore = [`--storage=fs:${dir}/fs`];
    const quiet = { out: () => {}, err: () => {} };
    for (const subject of ["a", "b", "c"]) {
      assert.equal(
        await runCli(
          ["token", "create", `--subject=${subject}`, "--grant=*:read", ...fsStore],
          {},
          quiet,
        ),
        0,
      );
    }
    const err: string[] = [];
    const progress: string[] = [];
    const io = {
      out: () => {},
      err: (l: string) => void err.push(l),
      progress: (l: string) => void progress.push(l),
    };
    assert.equal(await runCli(["export", `--out=${dir}/dump.jsonl`, ...fsStore], {}, io), 0);
    assert.equal(err.length, 1, err.join("\n"));
    // On a terminal export counts first, so its line is a bar with totals.
    assert.ok(
      progress.some((l) => /^export \[[#-]+\] \d+% 0\/0 blobs, 0 B\/0 B, \d+\/\d+ rows/.test(l)),
      progress.join("\n"),
    );
    assert.match(
      err[0]!,
      new RegExp(
        `^registry: exported \\d+ rows and 0 blobs \\(0 B\\) to ${dir}/dump.jsonl in [\\d.]+s$`,
      ),
    );
    err.length = 0;
    progress.length = 0;
    assert.equal(
      await runCli(["import", `--in=${dir}/dump.jsonl`, `--storage=kv:${dir}/kv.kv`], {}, io),
      0,
    );
    assert.match(
      err.at(-1)!,
      /^registry: imported \d+ rows and 0 blobs \(0 B\) from .* in [\d.]+s$/,
    );
    assert.ok(
      progress.some((l) => /^import \[#+-*\] \d+% 0\/0 blobs, 0 B\/0 B, \d+\/\d+ rows/.test(l)),
      progress.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc shows a progress bar on a terminal and ends with one summary line", async () => {
  await using s = await makeStore();
  const bundles = await FsBundleStorage.open({ root: `${s.dir}/bundles` });
  for (let i = 0; i < 3; i++) await bundles.put(new TextEncoder().encode(`orphan ${i}`));
  await bundles.close();
  const err: string[] = [];
  const progress: string[] = [];
  const out: string[] = [];
  const io = {
    out: (l: string) => void out.push(l),
    err: (l: string) => void err.push(l),
    progress: (l: string) => void progress.push(l),
  };
  assert.equal(await runCli(["gc", "--grace=0ms", ...s.store], {}, io), 0);
  assert.equal(err.length, 1, err.join("\n"));
  assert.match(
    err[0]!,
    /^registry: gc deleted 3 orphans \(24 B\) among 3 blobs, 0 referenced, 0 young in [\d.]+s$/,
  );
  assert.ok(
    progress.some((l) => /^gc \[[#-]+\] \d+% \d\/3 blobs, .*B\/24 B, 0\/0 rows/.test(l)),
    progress.join("\n"),
  );
  assert.equal(progress.at(-1), "", "the line is cleared before the summary");
  assert.equal(JSON.parse(out.join("\n")).orphanCount, 3);
});
