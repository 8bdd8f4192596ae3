// Rack parity: with SCHEMA_DIR configured, uploads are validated against the
// operator's registry-item.json, as the original validates them (a relaxed
// schema admits what the built-in one refuses, a stricter one refuses more).
import assert from "node:assert/strict";
import { makeItem, makePackage, makeRackEnv, uploadRequest } from "./_rack_fixtures.ts";
import { builtinSchemaBytes } from "../core/rack/schema.ts";

const CI = "ci-token";

async function withSchema(
  edit: (schema: Record<string, unknown>) => void,
  run: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const schema = JSON.parse(new TextDecoder().decode(builtinSchemaBytes("registry-item.json")));
    edit(schema);
    await Deno.writeTextFile(`${dir}/registry-item.json`, JSON.stringify(schema, null, 2));
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("POST /registries validates against SCHEMA_DIR's registry-item.json: a relaxed schema admits an extra field", async () => {
  const item = makeItem({ namespace: "@company", internalOwner: "team-a" });
  // The built-in schema (additionalProperties: false) refuses the field.
  const builtin = await makeRackEnv().app.request(
    uploadRequest(await makePackage({ item }), { token: CI }),
  );
  assert.equal(builtin.status, 400);
  assert.equal((await builtin.json()).code, "SCHEMA_VALIDATION_FAILED");
  await withSchema((schema) => {
    schema.additionalProperties = true;
  }, async (dir) => {
    const env = makeRackEnv({ schemaDir: dir });
    const res = await env.app.request(uploadRequest(await makePackage({ item }), { token: CI }));
    assert.equal(res.status, 201, await res.clone().text());
    await res.body?.cancel();
  });
});

Deno.test("POST /registries validates against SCHEMA_DIR's registry-item.json: a stricter schema refuses what the built-in admits", async () => {
  await withSchema((schema) => {
    (schema.required as string[]).push("license");
  }, async (dir) => {
    const env = makeRackEnv({ schemaDir: dir });
    const item = makeItem({ namespace: "@company" });
    const res = await env.app.request(uploadRequest(await makePackage({ item }), { token: CI }));
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.code, "SCHEMA_VALIDATION_FAILED");
    assert.match(body.message, /license/);
  });
});
