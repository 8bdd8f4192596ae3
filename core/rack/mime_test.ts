import assert from "node:assert/strict";
import { rackMimeType } from "./mime.ts";

Deno.test("rackMimeType() maps every extension of the spec table, case-insensitively", () => {
  const table: Record<string, string> = {
    js: "text/javascript",
    cjs: "text/javascript",
    mjs: "text/javascript",
    jsx: "text/javascript",
    ts: "text/typescript",
    tsx: "text/typescript",
    css: "text/css",
    scss: "text/x-scss",
    less: "text/x-less",
    html: "text/html",
    svg: "image/svg+xml",
    json: "application/json",
    yaml: "text/yaml",
    yml: "text/yaml",
    toml: "text/toml",
    xml: "application/xml",
    md: "text/markdown",
    txt: "text/plain",
    woff: "font/woff",
    woff2: "font/woff2",
    ttf: "font/ttf",
    otf: "font/otf",
    png: "image/png",
    gif: "image/gif",
    ico: "image/x-icon",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    webp: "image/webp",
  };
  for (const [ext, type] of Object.entries(table)) {
    assert.equal(rackMimeType(`dir/file.${ext}`), type, ext);
    assert.equal(rackMimeType(`dir/FILE.${ext.toUpperCase()}`), type, ext);
  }
});

Deno.test("rackMimeType() answers octet-stream for no, unknown or dotfile extensions", () => {
  assert.equal(rackMimeType("Makefile"), "application/octet-stream");
  assert.equal(rackMimeType("a.unknown"), "application/octet-stream");
  assert.equal(rackMimeType(".gitignore"), "application/octet-stream");
  assert.equal(rackMimeType("x.d/commit-msg"), "application/octet-stream");
});
