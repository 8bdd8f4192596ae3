// The blueprint probe's child process (see server/blueprint_probe.ts). It
// starts with one permission, reading NODE_ENV (React's CJS entries read it
// at load), and revokes it before touching the blueprint; no remote modules,
// no npm downloads, and a capped V8 heap. It reads
// one JSON request from stdin — {nonce, code, fixtureProps} — renders the
// compiled blueprint's default export with React's server renderer, and
// writes one line `<nonce> <json>` to stdout. The nonce never leaves this
// module's scope, so output printed by the blueprint cannot pass for ours.
import * as React from "react";
import { renderToString } from "react-dom/server";

// React's CommonJS entries read NODE_ENV while loading (above); that was the
// one permission this process had. Drop it before any blueprint code runs,
// so the blueprint runs with no permission at all.
await Deno.permissions.revoke({ name: "env" });

// Keep our own references before any blueprint code runs (it may patch globals).
const stdout = Deno.stdout;
const writeSync = stdout.writeSync.bind(stdout);
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);
const stringify = JSON.stringify;
const exit: (code?: number) => never = Deno.exit;
const createElement = React.createElement;
const render = renderToString;

function reply(nonce: string, body: { ok: boolean; message?: string }): never {
  const bytes = encode(`\n${nonce} ${stringify(body)}\n`);
  let written = 0;
  while (written < bytes.length) written += writeSync(bytes.subarray(written));
  exit(0);
}

function describe(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 2000);
    return String(err).slice(0, 2000);
  } catch {
    return "a value that cannot be described was thrown";
  }
}

const input = JSON.parse(await new Response(Deno.stdin.readable).text()) as {
  nonce: string;
  code: string;
  fixtureProps?: unknown;
};
const nonce = input.nonce;
try {
  // Classic JSX output references a global `React` when the source does not import it.
  (globalThis as { React?: unknown }).React = React;
  const bytes = encode(input.code);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  const mod = await import(`data:text/javascript;base64,${btoa(binary)}`) as { default?: unknown };
  const component = mod.default;
  if (typeof component !== "function" && (typeof component !== "object" || component === null)) {
    reply(nonce, {
      ok: false,
      message: `default export is not a component (got ${typeof component})`,
    });
  }
  const props = input.fixtureProps !== null && typeof input.fixtureProps === "object" &&
      !Array.isArray(input.fixtureProps)
    ? input.fixtureProps as Record<string, unknown>
    : {};
  render(createElement(component as React.ElementType, props));
  reply(nonce, { ok: true });
} catch (err) {
  reply(nonce, { ok: false, message: describe(err) });
}
