"""The BBC News archive (2,225 articles, 2004-2005) as an eval corpus: where it is, its
extraction into a cache folder outside the repository, its duplicates, and its dev/test split.

The archive is never copied into the repository. `prepare_corpus()` extracts it once into
`<cache_dir>/bbc-<archive hash>/corpus`, keyed by the archive's sha256, so later runs reuse it
(and the index built beside it). Without the archive, `ArchiveMissing` says where to put it.

The split is by article: a file whose number is odd is dev, even is test (`business/001.txt`
is dev). Byte-identical duplicates (about a hundred pairs) go where the first of them in path
order goes, so an article and its copy are never on both sides.
"""

from __future__ import annotations

import shutil
import tarfile
from collections import defaultdict
from pathlib import Path

from index.embedder import file_sha256
from rag.config import Settings
from rag.errors import ConfigError

ARCHIVE_NAME = "bbc-news-2225.tar.gz"
SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / ARCHIVE_NAME
ARTICLES = 2225


class ArchiveMissing(ConfigError):
    """A BBC suite was asked for but the archive is not where we look."""


def archive_path(settings: Settings) -> Path:
    """The archive named by NEWSQA_BBC_ARCHIVE, else ../shared/corpora/ beside the repo."""
    return Path(settings.bbc_archive) if settings.bbc_archive else SHARED_ARCHIVE


def require_archive(settings: Settings) -> Path:
    path = archive_path(settings)
    if not path.is_file():
        raise ArchiveMissing(
            f"the BBC suites need the BBC News archive, and {path} does not exist: put "
            f"{ARCHIVE_NAME} there (../shared/corpora/ beside the repository) or set "
            "NEWSQA_BBC_ARCHIVE to its path. Nothing was run."
        )
    return path


def cache_folder(settings: Settings, archive: Path) -> Path:
    """`<cache_dir>/bbc-<first 12 hex of the archive's sha256>`: a new archive, a new folder."""
    return Path(settings.cache_dir).expanduser() / f"bbc-{file_sha256(archive)[:12]}"


def prepare_corpus(settings: Settings) -> Path:
    """The extracted articles (one folder per topic), extracting them on first use.

    Extraction goes to a temporary sibling and is renamed into place, so an interrupted run
    never leaves a half-extracted corpus that later runs would trust."""
    archive = require_archive(settings)
    corpus = cache_folder(settings, archive) / "corpus"
    if corpus.is_dir():
        return corpus
    partial = corpus.with_name("corpus.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(partial, filter="data")
    root = partial / "bbc"
    (root / "README.TXT").unlink(missing_ok=True)  # the data set's readme, not an article
    root.rename(corpus)
    shutil.rmtree(partial, ignore_errors=True)
    return corpus


def eval_settings(settings: Settings) -> Settings:
    """Settings whose corpus is the extracted archive and whose store is cached beside it,
    one store per embedder and chunking (a different one needs a different index)."""
    corpus = prepare_corpus(settings)
    key = f"{settings.embedder}-{settings.chunk_tokens}-{settings.chunk_overlap}"
    return settings.model_copy(
        update={
            "corpus_dir": corpus,
            "store_dir": corpus.parent / f"store-{key}",
            "chroma_host": None,
            "collection": "newsqa_bbc",
        }
    )


def article_files(corpus: Path) -> list[str]:
    """Source names ("business/001.txt") of every article, in path order."""
    return sorted(p.relative_to(corpus).as_posix() for p in corpus.glob("*/*.txt"))


def duplicate_groups(corpus: Path) -> dict[str, list[str]]:
    """Source name -> every source with byte-identical content (itself included), in order."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for source in article_files(corpus):
        by_hash[file_sha256(corpus / source)].append(source)
    return {source: group for group in by_hash.values() for source in group}


def split_of(source: str, duplicates: dict[str, list[str]] | None = None) -> str:
    """'dev' or 'test' for an article: odd file numbers are dev, even are test; a duplicate
    follows the first file of its group."""
    first = (duplicates or {}).get(source, [source])[0]
    number = int(Path(first).stem)
    return "dev" if number % 2 else "test"
