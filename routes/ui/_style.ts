/**
 * The one stylesheet of the pages (`/ui/style.css`): system fonts, light and
 * dark by `prefers-color-scheme`, one column that fits a phone.
 *
 * @module
 */

/** The stylesheet's text. */
export const STYLESHEET = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --accent: #0550ae; --code: #f6f8fa; --warn: #9a6700; --bad: #b3261e;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d;
    --accent: #79c0ff; --code: #161b22; --warn: #d29922; --bad: #ff7b72;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
a { color: var(--accent); }
header.site, main, footer.site { max-width: 64rem; margin: 0 auto; padding: 0.75rem 1rem; }
header.site { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center;
  border-bottom: 1px solid var(--line); }
header.site .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.site form { flex: 1; display: flex; gap: 0.5rem; min-width: 12rem; }
header.site nav { display: flex; gap: 0.75rem; align-items: center; }
input, select, button { font: inherit; color: inherit; background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; padding: 0.35rem 0.6rem; }
input[type=search], input[type=password], input[type=text] { flex: 1; min-width: 0; }
button { cursor: pointer; background: var(--code); }
footer.site { color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line); }
h1 { font-size: 1.6rem; margin: 0.5rem 0; word-break: break-word; }
h2 { font-size: 1.2rem; margin-top: 1.5rem; }
.muted { color: var(--muted); }
.badge { display: inline-block; font-size: 0.75rem; padding: 0 0.4rem; border-radius: 999px;
  border: 1px solid var(--line); color: var(--muted); vertical-align: middle; }
.badge.yanked { color: var(--bad); border-color: var(--bad); }
.badge.private { color: var(--warn); border-color: var(--warn); }
ul.hits { list-style: none; padding: 0; }
ul.hits li { padding: 0.6rem 0; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line); }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.9rem; background: var(--code); }
pre { padding: 0.75rem; overflow-x: auto; border-radius: 6px; border: 1px solid var(--line); }
pre.lines { counter-reset: line; }
.readme { border: 1px solid var(--line); border-radius: 6px; padding: 0 1rem; overflow-wrap: anywhere; }
.readme img { max-width: 100%; }
.readme pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.grid { display: grid; gap: 1.5rem; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
@media (max-width: 48rem) { .grid { grid-template-columns: minmax(0, 1fr); } }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }
.notice { border-left: 4px solid var(--warn); padding: 0.5rem 1rem; background: var(--code); }
.error { border-left: 4px solid var(--bad); padding: 0.5rem 1rem; background: var(--code); }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.25rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots figure { margin: 0; max-width: 100%; }
.plots svg { max-width: 100%; height: auto; }
.hljs-keyword, .hljs-meta, .hljs-tag { color: #cf222e; }
.hljs-string, .hljs-regexp { color: #0a3069; }
.hljs-comment { color: var(--muted); font-style: italic; }
.hljs-number, .hljs-literal, .hljs-title, .hljs-attr, .hljs-built_in, .hljs-name { color: #0550ae; }
@media (prefers-color-scheme: dark) {
  .hljs-keyword, .hljs-meta, .hljs-tag { color: #ff7b72; }
  .hljs-string, .hljs-regexp { color: #a5d6ff; }
  .hljs-number, .hljs-literal, .hljs-title, .hljs-attr, .hljs-built_in, .hljs-name { color: #79c0ff; }
}
`;
