"""newsqa's web page: `from ui.app import build_app, launch` (gradio is imported there only).

Importing this package first loads rag.config, which switches off gradio's and Hugging
Face's network habits (analytics, version check, telemetry) before gradio is imported.
"""

import rag.config  # noqa: F401  (for its side effect on the environment, see above)
