/**
 * The pages' one script (`/ui/copy.js`), a progressive enhancement: it shows
 * each Copy button (hidden without it) and copies its block's text, through
 * the Clipboard API or, where that is refused, the selection.
 *
 * @module
 */

/** The script's text. */
export const COPY_SCRIPT = `"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const block = document.getElementById(button.dataset.copy);
  if (!block) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const text = block.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(block);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 2000);
  });
}
`;
