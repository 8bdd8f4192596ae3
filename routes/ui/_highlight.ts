/**
 * Source files as highlighted HTML through highlight.js (its core and a few
 * languages; the output escapes the text and adds only `<span class>`).
 *
 * @module
 */
// @ts-types="./_hljs.d.ts"
import hljs from "highlight.js/lib/core";
// @ts-types="./_hljs_language.d.ts"
import typescript from "highlight.js/lib/languages/typescript";
// @ts-types="./_hljs_language.d.ts"
import javascript from "highlight.js/lib/languages/javascript";
// @ts-types="./_hljs_language.d.ts"
import json from "highlight.js/lib/languages/json";
// @ts-types="./_hljs_language.d.ts"
import markdown from "highlight.js/lib/languages/markdown";
// @ts-types="./_hljs_language.d.ts"
import css from "highlight.js/lib/languages/css";
// @ts-types="./_hljs_language.d.ts"
import xml from "highlight.js/lib/languages/xml";

hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("json", json);
hljs.registerLanguage("markdown", markdown);
hljs.registerLanguage("css", css);
hljs.registerLanguage("xml", xml);

const BY_EXTENSION: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  cts: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  json: "json",
  jsonc: "json",
  md: "markdown",
  css: "css",
  html: "xml",
  htm: "xml",
  svg: "xml",
  xml: "xml",
};

/** Files longer than this are shown escaped but not highlighted (it is linear, but not free). */
const MAX_HIGHLIGHT_CHARS = 256 * 1024;

/** Escape text for an HTML text node. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * A file's text as HTML: highlighted by its extension when known and small
 * enough, else escaped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { highlight } from "./_highlight.ts";
 * assert.ok(highlight("a.ts", "const x = 1;").includes('class="hljs-keyword"'));
 * assert.equal(highlight("a.bin", "<b>"), "&#60;b&#62;");
 * ```
 */
export function highlight(path: string, text: string): string {
  const language = BY_EXTENSION[path.split(".").at(-1)?.toLowerCase() ?? ""];
  if (!language || text.length > MAX_HIGHLIGHT_CHARS) return escapeHtml(text);
  return hljs.highlight(text, { language, ignoreIllegals: true }).value;
}
