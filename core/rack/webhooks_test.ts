import assert from "node:assert/strict";
import { OutboxRowSchema } from "../rows.ts";
import { parseWebhookConfig, uploadOutboxRows } from "./webhooks.ts";

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
