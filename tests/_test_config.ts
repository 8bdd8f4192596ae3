// The tests' configuration: deno.json's import map plus the packages only tests
// use (puppeteer-core, s3rver, @sigstore/mock …), with a lockfile of its own.
// They stay out of deno.json and deno.lock because `deno task start` installs
// every package those two name before it runs (tests/start_graph_test.ts).
// `deno task test`, `deno task check` and `deno task bench` pass these flags; a
// `deno` child that runs a module importing a test-only package needs them too.
import { fileURLToPath } from "node:url";

/** `--import-map` and `--lock` for the tests' configuration, as absolute paths. */
export const TEST_CONFIG_FLAGS: readonly string[] = [
  `--import-map=${fileURLToPath(new URL("./import_map.json", import.meta.url))}`,
  `--lock=${fileURLToPath(new URL("./deno.lock", import.meta.url))}`,
];
