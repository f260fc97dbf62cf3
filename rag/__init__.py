"""newsqa's answering side: `from rag import ask, ask_stream, Answer, Citation`.

`ask` and `ask_stream` are loaded on first use, so that `import rag` stays cheap
(no chromadb, no onnxruntime, never gradio) until a question is actually asked.
"""

import importlib

from rag.types import Answer, Citation, Timings

__all__ = ["Answer", "Citation", "Timings", "ask", "ask_stream"]


def __getattr__(name: str):
    if name in ("ask", "ask_stream"):
        module = importlib.import_module("rag.ask")
        # Loading the submodule rag.ask binds its name on this package; the public
        # name `rag.ask` is the function, so bind the functions over it.
        globals().update(ask=module.ask, ask_stream=module.ask_stream)
        return globals()[name]
    raise AttributeError(name)
