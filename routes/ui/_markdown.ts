/**
 * README and description Markdown to HTML through markdown-it with raw HTML
 * off (a `<script>` or an event handler in the source is shown as text),
 * and links limited to `http:`, `https:`, `mailto:` and relative URLs
 * (`javascript:`, `data:`, `vbscript:` and the rest render as plain text).
 *
 * @module
 */
// @ts-types="@types/markdown-it"
import MarkdownIt from "markdown-it";

const SAFE_URL = /^(https?:|mailto:|[^:]*$)/i;

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
// Control characters and spaces are dropped first: browsers ignore them inside a scheme.
md.validateLink = (url: string) =>
  SAFE_URL.test([...url].filter((ch) => ch.charCodeAt(0) > 32).join(""));

/**
 * Markdown rendered as HTML safe to place in a page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderMarkdown } from "./_markdown.ts";
 * assert.equal(renderMarkdown("<script>x</script>"), "<p>&lt;script&gt;x&lt;/script&gt;</p>\n");
 * assert.ok(!renderMarkdown("[a](javascript:alert(1))").includes("href"));
 * ```
 */
export function renderMarkdown(source: string): string {
  return md.render(source);
}
