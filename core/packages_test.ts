import assert from "node:assert/strict";
import { nextPackageRow, recomputePackageRow } from "./packages.ts";
import type { VersionState } from "./rows.ts";
import { isRegistryError } from "../base/errors.ts";

const ref = { namespace: "@acme", name: "map" };
function state(
  version: string,
  visibility: "public" | "private" = "public",
  yanked = false,
): VersionState {
  return {
    version,
    format: "ggui.gadget",
    visibility,
    publishedAt: `t-${version}`,
    publishedBy: "alice",
    yanked,
  };
}

Deno.test("nextPackageRow() keeps the highest release as latest over a later prerelease", () => {
  let row = nextPackageRow(null, state("1.0.0"), { ref, summary: { description: "one" } });
  row = nextPackageRow(row, state("2.0.0-rc.1"), { ref, summary: { description: "rc" } });
  assert.equal(row.latest, "1.0.0");
  assert.equal(row.publicSummary?.description, "one");
  assert.equal(row.versionCount, 2);
});

Deno.test("nextPackageRow() indexes the highest public version, not a private one", () => {
  let row = nextPackageRow(null, state("1.0.0"), { ref, summary: { description: "public" } });
  row = nextPackageRow(row, state("2.0.0", "private"), { ref, summary: { description: "secret" } });
  assert.equal(row.latest, "2.0.0");
  assert.equal(row.publicSummary?.version, "1.0.0");
  assert.equal(row.publicSummary?.description, "public");
});

Deno.test("nextPackageRow() refuses another format with format_conflict", () => {
  const row = nextPackageRow(null, state("1.0.0"), { ref });
  assert.throws(
    () => nextPackageRow(row, { ...state("1.1.0"), format: "rack.registry" }, { ref }),
    (e) => isRegistryError(e, "format_conflict"),
  );
});

Deno.test("recomputePackageRow() skips yanked versions for latest and search", () => {
  const row = nextPackageRow(null, state("1.0.0"), { ref });
  const next = recomputePackageRow(
    row,
    [state("1.0.0"), state("1.1.0", "public", true), state("0.9.0")],
    (v) => ({ description: `d${v}` }),
    "now",
  );
  assert.equal(next.latest, "1.0.0");
  assert.equal(next.publicSummary?.description, "d1.0.0");
  assert.equal(next.versionCount, 3);
});

Deno.test("nextPackageRow() moves latest and the search entry only for a version of higher precedence, not other build metadata", () => {
  let row = nextPackageRow(null, state("3.0.0"), { ref, summary: { description: "first" } });
  for (const version of ["3.0.0+b2", "3.0.0+b1"]) {
    row = nextPackageRow(row, state(version), { ref, summary: { description: version } });
    assert.equal(row.latest, "3.0.0", version);
    assert.equal(row.publicSummary?.version, "3.0.0", version);
    assert.equal(row.publicSummary?.description, "first", version);
  }
  row = nextPackageRow(row, state("3.0.1+b0"), { ref });
  assert.equal(row.latest, "3.0.1+b0");
});

Deno.test("recomputePackageRow() agrees with publishing on versions that differ only in build metadata, in any order", () => {
  const row = nextPackageRow(null, state("1.0.0"), { ref });
  for (
    const order of [
      ["1.0.0+b", "1.0.0", "0.9.0"],
      ["0.9.0", "1.0.0", "1.0.0+b"],
    ]
  ) {
    const next = recomputePackageRow(
      row,
      order.map((v) => state(v, "public", v === "0.9.0")),
      (v) => ({ description: `d${v}` }),
      "now",
    );
    assert.equal(next.latest, "1.0.0", order.join());
    assert.equal(next.publicSummary?.version, "1.0.0", order.join());
  }
});
