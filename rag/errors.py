"""Errors a user can fix. Each message says what to do; the CLI and UI show it as is."""


class NewsqaError(Exception):
    """Base class: anything raised as this is shown to the user without a traceback."""


class ConfigError(NewsqaError):
    """A setting is missing or wrong."""


class ModelError(NewsqaError):
    """The local embedding model is missing or its file does not match the expected hash."""


class EmbedderMismatchError(NewsqaError):
    """The index was built by another embedder than the one configured."""


class IndexMissingError(NewsqaError):
    """There is no index yet, or it is empty."""


class StoreError(NewsqaError):
    """The Chroma store cannot be reached or opened."""


class StoreChangedError(StoreError):
    """The collection this client held was dropped or rebuilt by another process."""


class NoArticlesError(NewsqaError):
    """An ingest found no article file to read."""


class FilterError(NewsqaError):
    """A filter names a source the index does not hold."""


class QuestionError(NewsqaError):
    """The question cannot be read as asked (too long)."""


class LLMError(NewsqaError):
    """The LLM endpoint failed: bad key, rate limit, unreachable, timeout."""
