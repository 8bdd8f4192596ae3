import assert from "node:assert/strict";
import { OutboxRowSchema } from "../row_schemas.ts";
import { checkWebhookTargets, parseWebhookConfig, uploadOutboxRows } from "./webhooks.ts";

Deno.test("parseWebhookConfig() reads the webhooks.json format and rejects invalid files", () => {
  const subs = parseWebhookConfig(JSON.stringify({
    webhooks: [
      {
        url: "https://a.example/h",
        secret: "s1",
        events: ["uploaded", "version.created", "other"],
        enabled: true,
        description: "CI",
      },
      { url: "https://b.example/h", secret: "s2", events: [], enabled: false },
    ],
  }));
  assert.equal(subs.length, 2);
  assert.equal(subs[0]!.description, "CI");
  assert.notEqual(subs[0]!.id, subs[1]!.id);
  assert.deepEqual(parseWebhookConfig(null), []);
  for (
    const bad of [
      "{",
      "[]",
      '{"webhooks":{}}',
      '{"webhooks":[{"url":"","secret":"s","events":[],"enabled":true}]}',
      '{"webhooks":[{"url":"u","secret":"","events":[],"enabled":true}]}',
      '{"webhooks":[{"url":"u","secret":"s","events":"uploaded","enabled":true}]}',
      '{"webhooks":[{"url":"u","secret":"s","events":[],"enabled":"yes"}]}',
      '{"webhooks":[null]}',
    ]
  ) assert.throws(() => parseWebhookConfig(bad), /webhooks\.json/, bad);
});

Deno.test("uploadOutboxRows() emits uploaded then version.created for enabled subscriptions only", () => {
  const now = new Date("2026-03-04T05:06:07.000Z");
  const subs = parseWebhookConfig(JSON.stringify({
    webhooks: [
      {
        url: "https://a.example/h",
        secret: "s",
        events: ["version.created", "uploaded"],
        enabled: true,
      },
      { url: "https://b.example/h", secret: "s", events: ["uploaded"], enabled: true },
      { url: "https://c.example/h", secret: "s", events: ["uploaded"], enabled: false },
    ],
  }));
  const rows = uploadOutboxRows(subs, {
    name: "my-tool",
    version: "1.0.0",
    namespace: "@company",
    path: "@company/features/my-tool/1.0.0",
  }, now);
  assert.deepEqual(rows.map((r) => [r.event, r.url]), [
    ["uploaded", "https://a.example/h"],
    ["uploaded", "https://b.example/h"],
    ["version.created", "https://a.example/h"],
  ]);
  const sorted = [...rows].sort((a, b) => a.id < b.id ? -1 : 1);
  assert.deepEqual(sorted, rows);
  for (const r of rows) OutboxRowSchema.parse(r);
  assert.equal(
    rows[0]!.body,
    '{"event":"uploaded","name":"my-tool","version":"1.0.0","namespace":"@company","timestamp":"2026-03-04T05:06:07.000Z","path":"@company/features/my-tool/1.0.0"}',
  );
  assert.ok(!rows[0]!.body.includes("secret"));
});

Deno.test("checkWebhookTargets() names the first entry whose host is private or resolves to a private address", async () => {
  const entry = (url: string) => ({ url, secret: "s", events: ["uploaded"], enabled: true });
  const subs = parseWebhookConfig(JSON.stringify({
    webhooks: [
      entry("https://hooks.example.com/h"),
      entry("https://unknown.example.com/h"),
      entry("https://rebind.example.com/h"),
    ],
  }));
  const answers: Record<string, string[]> = {
    "hooks.example.com": ["93.184.216.34"],
    "rebind.example.com": ["::ffff:10.0.0.8"],
  };
  const guard = { allowHosts: [], resolve: (h: string) => Promise.resolve(answers[h] ?? []) };
  await assert.rejects(
    checkWebhookTargets(subs, guard),
    (err: Error) =>
      err.message ===
        "Could not load webhooks.json: entry 2 ('https://rebind.example.com/h') is refused: Webhook host 'rebind.example.com' resolves to '::ffff:10.0.0.8', which is on a private or loopback network; allow it with --webhook-allow-hosts",
  );
  await checkWebhookTargets(subs, { ...guard, allowHosts: ["rebind.example.com"] });
  await assert.rejects(
    checkWebhookTargets(
      parseWebhookConfig(
        '{"webhooks":[{"url":"file:///etc/passwd","secret":"s","events":[],"enabled":true}]}',
      ),
      guard,
    ),
    /entry 0 \('file:\/\/\/etc\/passwd'\) is refused: .*must use http or https/,
  );
});
