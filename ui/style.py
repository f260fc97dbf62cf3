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
  text-decoration: none; color: var(--color-accent); background: var(--color-accent-soft);
}
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
"""

# The Chatbot's copy buttons copy a message's raw Markdown, marker links included: give
# the clipboard plain "[n]" instead. Same pattern as the server's, so they cannot drift.
HEAD = f"""<script>
(() => {{
  const clipboard = navigator.clipboard;  // absent outside secure contexts: nothing to fix
  if (!clipboard || clipboard.nqPlainMarkers) return;
  const linked = new RegExp({json.dumps(LINKED_MARKER.pattern)}, "g");
  const writeText = clipboard.writeText.bind(clipboard);
  clipboard.writeText = (text) => writeText(String(text).replace(linked, "$1"));
  clipboard.nqPlainMarkers = true;
}})();
</script>"""
