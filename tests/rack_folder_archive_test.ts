// Rack parity: the Rack docs' CI recipe packs the package folder itself
// (`tar -C registries my-registry/`), so every path starts with
// `my-registry/`. An archive of exactly one top-level folder holding
// registry.json is accepted as if packed from inside it (an extension: the
// original refuses it too).
import assert from "node:assert/strict";
import {
  makeItem,
  makePackage,
  makeRackEnv,
  makeTarball,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";

const CI = "ci-token";

Deno.test("POST /registries accepts an archive of one top-level folder holding registry.json, storing paths without the folder", async () => {
  const env = makeRackEnv();
  const item = makeItem({ namespace: "@company" });
  const archive = await makePackage({ item, tar: { prefix: "my-registry/" } });
  const res = await env.app.request(uploadRequest(archive, { token: CI }));
  assert.equal(res.status, 201, await res.clone().text());
  await res.body?.cancel();
  const auth = { headers: { authorization: `Bearer ${CI}` } };
  const reg = await env.app.request("/registries/@company/quality/husky/1.0.0", auth);
  assert.deepEqual(await reg.json(), item);
  const file = await env.app.request(
    "/registries/@company/quality/husky/1.0.0/files/templates/setup.ts",
    auth,
  );
  assert.equal(await file.text(), TEMPLATE_FILES["templates/setup.ts"]);
});

Deno.test("POST /registries still refuses a folder archive with anything beside the folder", async () => {
  const env = makeRackEnv();
  const item = makeItem({ namespace: "@company" });
  const files: Record<string, string> = { "my-registry/registry.json": JSON.stringify(item) };
  for (const [path, text] of Object.entries(TEMPLATE_FILES)) files[`my-registry/${path}`] = text;
  files["other/readme.md"] = "hi";
  const res = await env.app.request(uploadRequest(await makeTarball(files), { token: CI }));
  assert.equal(res.status, 400);
  assert.match((await res.json()).message, /registry\.json not found/);
});
