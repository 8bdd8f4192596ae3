// The part of highlight.js's core used here. Its own types reference the DOM
// library, which would change the global types of the whole project.
/** The highlighter. */
export interface HighlightApi {
  /** Add a language under a name. */
  registerLanguage(name: string, language: unknown): void;
  /** Highlight code as escaped HTML with `<span class>` tokens. */
  highlight(code: string, options: { language: string; ignoreIllegals?: boolean }): {
    value: string;
  };
}
declare const hljs: HighlightApi;
export default hljs;
