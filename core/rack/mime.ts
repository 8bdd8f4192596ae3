/**
 * Content types of template files by extension (spec §5.2).
 *
 * @module
 */

const BY_EXTENSION: Record<string, string> = {
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

/**
 * The Content-Type of a file path: by its extension, case-insensitive; a
 * dotfile's whole name counts as its extension; unknown → octet-stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rackMimeType } from "./mime.ts";
 * assert.ok(rackMimeType("src/App.TSX") === "text/typescript");
 * assert.ok(rackMimeType(".gitignore") === "application/octet-stream");
 * assert.ok(rackMimeType("templates/.husky/commit-msg") === "application/octet-stream");
 * ```
 */
export function rackMimeType(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  if (dot === -1) return "application/octet-stream";
  const ext = base.slice(dot + 1).toLowerCase();
  return Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext]! : "application/octet-stream";
}
