// A highlight.js language definition, opaque here (see _hljs.d.ts).
declare const language: unknown;
export default language;
