"""The page's CSS and <head> script (passed to launch(); Gradio 6 takes them there,
not in Blocks)."""

import json

from ui.render import LINKED_MARKER

CSS = """
#nq-header { align-items: flex-end; }
#nq-title h2 { margin-bottom: 0.1em; }
#nq-title p { color: var(--body-text-color-subdued); margin-top: 0; }
#nq-status { text-align: right; color: var(--body-text-color-subdued); font-size: 0.92em; }
#nq-chat .message { font-size: 1.02em; line-height: 1.55; }
#nq-sources { max-height: 700px; overflow-y: auto; }
.nq-sources h3 { margin: 0 0 0.3em 0; font-size: 1.1em; }
.nq-question { font-style: italic; margin-bottom: 0.2em; }
.nq-timing { color: var(--body-text-color-subdued); font-size: 0.8em; margin-bottom: 0.8em; }
.nq-empty, .nq-note { color: var(--body-text-color-subdued); }
.nq-searched { color: var(--body-text-color-subdued); font-size: 0.8em; }
.nq-note { font-size: 0.8em; margin-top: 0.3em; }
.nq-refused { background: #fff4e5; color: #7a4b00; border-radius: 6px; padding: 0.5em 0.7em; }
.nq-error { background: #fdecec; color: #8a1c1c; border-radius: 6px; padding: 0.5em 0.7em; }
.nq-source {
  border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.7em 0.9em; margin-bottom: 0.8em; background: var(--block-background-fill);
}
.nq-source { scroll-margin-top: 0.4em; }
.nq-source:target {
  border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft);
  animation: nq-flash 1.6s ease-out;
}
@keyframes nq-flash { from { background: var(--color-accent-soft); } }
#nq-chat a.nq-cite {
  display: inline-block; padding: 0 0.38em; margin: 0 0.08em; border-radius: 0.8em;
  font-size: 0.76em; font-weight: 600; line-height: 1.5; vertical-align: 0.14em;
  text-decoration: none; color: #3730a3; background: #e0e7ff;  /* 8.6:1 */
}
.dark #nq-chat a.nq-cite { color: #e0e7ff; background: #3730a3; }
#nq-chat a.nq-cite:hover, #nq-chat a.nq-cite:focus-visible {
  background: var(--color-accent); color: white;
}
.nq-source header { font-weight: 600; line-height: 1.35; }
.nq-untitled { font-style: italic; font-weight: 500; color: var(--body-text-color-subdued); }
.nq-marker { color: var(--color-accent); margin-right: 0.2em; }
.nq-meta { color: var(--body-text-color-subdued); font-size: 0.86em; margin: 0.2em 0 0.5em 0; }
.nq-passage {
  margin: 0; padding: 0.1em 0 0.1em 0.8em; border-left: 3px solid var(--color-accent-soft);
  white-space: pre-wrap; font-size: 0.92em; line-height: 1.5;
}
.nq-passage mark { background: #ffe066; color: #1a1a1a; padding: 0 0.1em; border-radius: 2px; }
.nq-turn + .nq-turn { border-top: 1px solid var(--border-color-primary); padding-top: 0.8em; }
.nq-bubble-sources { margin-top: 0.4em; font-size: 0.9em; }
.nq-bubble-sources summary { cursor: pointer; font-weight: 600; }
.nq-bubble-sources ol { margin: 0.3em 0 0 0; padding-left: 1.6em; }
.nq-bubble-sources li { margin-bottom: 0.5em; }
.nq-bubble-sources mark { background: #ffe066; color: #1a1a1a; }
/* Wide screens read the sources in the panel beside the chat; narrow ones under each
   answer, with the chat growing with its messages instead of scrolling inside a box. */
@media (min-width: 901px) { .nq-bubble-sources { display: none; } }
@media (max-width: 900px) {
  #nq-sources { display: none; }
  #nq-chat { height: auto !important; max-height: none !important; }
  #nq-chat .bubble-wrap, #nq-chat [role="log"] { max-height: none !important; overflow: visible; }
  #nq-ask { flex-wrap: wrap; }
  #nq-question { flex: 1 1 100% !important; min-width: 100% !important; }
  #nq-ask-button, #nq-clear { flex: 1 1 40% !important; min-width: 0 !important; }
  #nq-header { flex-direction: column; align-items: flex-start; }
  #nq-status { text-align: left; }
}
/* Dark mode: one selector per rule (gradio's scoping of .dark keeps only the first). */
.dark .nq-refused { background: #3d2c0a; color: #ffe2a8; }
.dark .nq-error { background: #3f1515; color: #ffd0d0; }
"""

# The Chatbot's copy buttons copy a message's raw Markdown: give the clipboard plain "[n]"
# markers (same pattern as the server's, so they cannot drift) and the answer's own sources
# as lines of text. A marker whose panel entry is hidden (a narrow screen hides the panel)
# goes to the same entry in its answer's bubble instead.
HEAD = f"""<script>
(() => {{
  if (window.nqPage) return;
  window.nqPage = true;
  const linked = new RegExp({json.dumps(LINKED_MARKER.pattern)}, "g");
  const NL = String.fromCharCode(10);  // (no backslash escapes through two string layers)
  const plain = (raw) => {{
    const text = String(raw).replace(linked, "$1");
    const at = text.indexOf('<details class="nq-bubble-sources"');
    if (at < 0) return text;
    const sources = new DOMParser().parseFromString(text.slice(at), "text/html");
    const lines = [...sources.querySelectorAll("li")].map((li) =>
      `[${{li.value}}] ${{li.querySelector(".nq-meta").textContent}}` + NL +
      `“${{li.querySelector("mark").textContent}}”`);
    return text.slice(0, at).trimEnd() + NL + NL + "Sources:" + NL + lines.join(NL);
  }};
  const clipboard = navigator.clipboard;  // absent outside secure contexts
  if (clipboard) {{
    const writeText = clipboard.writeText.bind(clipboard);
    clipboard.writeText = (text) => writeText(plain(text));
  }}
  document.addEventListener("click", (event) => {{
    const link = event.target.closest && event.target.closest("a.nq-cite");
    if (!link) return;
    const id = link.getAttribute("href").slice(1);
    const entry = document.getElementById(id);
    if (entry && entry.offsetParent !== null) return;  // the panel shows it
    const own = document.getElementById(id.replace("nq-source-", "nq-b-"));
    if (!own) return;
    event.preventDefault();
    own.closest("details").open = true;
    own.scrollIntoView({{block: "nearest"}});
  }});
}})();
</script>"""
