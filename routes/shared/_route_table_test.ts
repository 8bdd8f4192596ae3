import assert from "node:assert/strict";
import { literalStart, patternRegExp, preparedMatcher, type Route } from "./_route_table.ts";

const hono = () => new Response("hono");
const fast = (tag: string): Route<string>["prepared"] => (_req, params, deps) => ({
  build: () => new Response(`${deps} ${tag} ${JSON.stringify(params)}`),
});

Deno.test("patternRegExp() reads Hono's patterns: segments, regex parameters and a final /*", () => {
  const one = patternRegExp("/pkg/:scope/:name");
  assert.deepEqual(one.names, ["scope", "name"]);
  assert.ok(one.re.test("/pkg/a/b"));
  assert.ok(!one.re.test("/pkg/a/b/"));
  assert.ok(!one.re.test("/pkg/a"));
  const meta = patternRegExp("/:scope{@[^/]+}/:name/:file{[^/]+_meta\\.json}");
  assert.deepEqual(meta.re.exec("/@a/b/1.0.0_meta.json")?.slice(1), ["@a", "b", "1.0.0_meta.json"]);
  assert.ok(!meta.re.test("/a/b/1.0.0_meta.json"));
  const file = patternRegExp("/:scope{@[^/]+}/:name/:version/:path{.+}");
  assert.equal(file.re.exec("/@a/b/1.0.0/src/mod.ts")?.[4], "src/mod.ts");
  const star = patternRegExp("/registries/*");
  assert.ok(star.re.test("/registries") && star.re.test("/registries/a/b.json"));
  assert.ok(!star.re.test("/registriesx"));
  assert.ok(patternRegExp("/a.b").re.test("/a.b") && !patternRegExp("/a.b").re.test("/axb"));
});

Deno.test("preparedMatcher() takes the first matching row in mounting order, as Hono does", async () => {
  const first: Route<string>[] = [
    { method: "GET", path: "/x/special", handler: hono },
    { method: "POST", path: "/x/:id", handler: hono, prepared: fast("post") },
    { method: "GET", path: "/x/:id", handler: hono, prepared: fast("x") },
    { method: "GET", path: "/off/:id", handler: hono, prepared: fast("off"), when: () => false },
  ];
  const second: Route<string>[] = [{
    method: "GET",
    path: "/off/:id",
    handler: hono,
    prepared: fast("second"),
  }];
  const match = preparedMatcher([{ table: first, deps: "one" }, { table: second, deps: "two" }]);
  const req = new Request("http://h/");
  assert.equal(match(req, "/x/special"), null, "a row without a prepared read shadows later ones");
  const x = match(req, "/x/7");
  assert.equal(x?.route, "/x/:id");
  const answer = await x!.answer();
  assert.equal(await (await answer!.build()).text(), 'one x {"id":"7"}');
  const off = await match(req, "/off/1")!.answer();
  assert.equal(
    await (await off!.build()).text(),
    'two second {"id":"1"}',
    "rows behind `when` are skipped",
  );
  assert.equal(match(req, "/nowhere"), null);
});

Deno.test("preparedMatcher() keeps table order between literal first segments and parameters", async () => {
  const table: Route<string>[] = [
    { method: "GET", path: "/:scope{@[^/]+}/:name", handler: hono, prepared: fast("jsr") },
    { method: "ALL", path: "/:any/held", handler: hono },
    { method: "GET", path: "/pkg/:scope", handler: hono, prepared: fast("pkg") },
    { method: "GET", path: "/pkg/:scope/held", handler: hono, prepared: fast("late") },
    { method: "GET", path: "*", handler: hono, prepared: fast("any") },
  ];
  const match = preparedMatcher([{ table, deps: "d" }]);
  const text = async (path: string) => {
    const route = match(new Request(`http://x${path}`), path);
    if (route === null) return null;
    const answer = await route.answer();
    return answer === null ? null : await (await answer.build()).text();
  };
  assert.equal(await text("/@a/b"), 'd jsr {"scope":"@a","name":"b"}');
  assert.equal(await text("/pkg/a"), 'd pkg {"scope":"a"}');
  // An earlier row with a parameter first segment wins over a later literal one.
  assert.equal(await text("/pkg/held"), null);
  assert.equal(await text("/pkg/a/held"), 'd late {"scope":"a"}');
  assert.equal(await text("/other/path"), "d any {}");
  assert.equal(await text("/"), "d any {}");
});

Deno.test("literalStart() is what every matched path starts with, a first parameter's literal start included", () => {
  const cases: [string, string, string[]][] = [
    ["/:scope{@[^/]+}/:name/meta.json", "/@", ["/@a/b/meta.json"]],
    ["/:scope{@[^/]+}/:name/:version/:path{.+}", "/@", ["/@a/b/1.0.0/src/x.ts"]],
    ["/registries/*", "/registries", ["/registries", "/registries/a"]],
    ["/pkg/:scope/:name", "/pkg", ["/pkg/a/b"]],
    ["/:x{ab?}/y", "", ["/a/y", "/ab/y"]],
    ["/:x{a|b}/y", "", ["/a/y", "/b/y"]],
    ["/:x{a(b|c)}", "", ["/ab", "/ac"]],
    ["/:x{[^/]+_meta\\.json}", "", ["/1_meta.json"]],
    ["/:x{ab+}", "", ["/ab", "/abbb"]],
  ];
  for (const [pattern, start, paths] of cases) {
    assert.equal(literalStart(pattern), start, pattern);
    for (const path of paths) {
      assert.ok(patternRegExp(pattern).re.test(path), `${pattern} matches ${path}`);
      assert.ok(path.startsWith(start), `${path} starts with ${start}`);
    }
  }
});
