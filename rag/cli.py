"""The `newsqa` command line. Each command imports its machinery only when run, so
`newsqa ask` never pays for gradio and `--help` is instant."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path

import click

from rag.config import get_settings
from rag.errors import NewsqaError, NoArticlesError


class _Group(click.Group):
    """Shows our own errors as one readable line (exit 2), not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsqaError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="newsqa", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Ask questions about a collection of news articles; every answer cites its passages."""
    level = "DEBUG" if verbose else get_settings().log_level
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "urllib3", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from scratch.")
def ingest(paths: tuple[Path, ...], rebuild: bool) -> None:
    """Read articles (default: the corpus dir) and bring the index up to date.

    Unchanged files are skipped, changed files replace their chunks, files removed
    from the corpus dir lose theirs. Given PATHS, only they (and what is under them) are
    brought up to date: a deleted file given by name loses its chunks. An interrupted run
    is completed by the next one.
    """
    from index.ingest import ingest as run_ingest
    from index.reader import SUPPORTED

    settings = get_settings()
    report = run_ingest(settings, paths=list(paths) or None, rebuild=rebuild, progress=True)
    click.echo(report.summary())
    if not report.files and not report.files_removed:
        where = ", ".join(map(str, paths)) or str(settings.corpus_dir)
        raise NoArticlesError(f"No article files in {where}: newsqa reads "
                              f"{' '.join(sorted(SUPPORTED))} files (hidden ones are skipped).")


@main.command()
def stats() -> None:
    """Articles, chunks, embedder and store location of the index."""
    from index.store import describe

    for key, value in describe(get_settings()).items():
        click.echo(f"{key:>12}: {value}")


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as JSON.")
@click.option("--top-k", type=int, default=None, help="Passages to retrieve.")
@click.option("--source", "sources", multiple=True, help="Only this source file (repeatable).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before.")
def ask(question, as_json, top_k, sources, since, until) -> None:
    """Answer QUESTION from the articles, with numbered sources."""
    from rag.ask import ask as run_ask
    from rag.render import format_answer_plain
    from rag.types import Filters

    filters = None
    if sources or since or until:
        filters = Filters(
            sources=list(sources) or None,
            since=_day(since),
            until=_day(until),
        )
    answer = run_ask(question, top_k=top_k, filters=filters)
    if as_json:
        click.echo(json.dumps(answer.model_dump(), indent=2, ensure_ascii=False))
    else:
        click.echo(format_answer_plain(answer))


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 7860).")
def chat(host: str | None, port: int | None) -> None:
    """Serve the chat page (builds the index first if there is none)."""
    from ui.app import launch

    launch(get_settings(), host=host, port=port)


@main.command(name="eval")
@click.option("--suite", default="seeds", show_default=True,
              help="Suites, comma-separated: bundled names (seeds, seeds-test, bbc-dev, "
                   "bbc-val, bbc-train, bbc-test) or .jsonl files.")
@click.option("--backend", type=click.Choice(["extractive", "openai", "local"]), default=None)
@click.option("--compare", default=None,
              help="Backends to compare, e.g. extractive,local.")
@click.option("--rgb", "rgb_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Score an RGB-style JSONL benchmark file instead of a suite.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports/eval"),
              show_default=True, help="Report directory.")
@click.option("--judge", is_flag=True,
              help="Also score faithfulness with the configured LLM as a judge (slow).")
def eval_(suite, backend, compare, rgb_path, out_dir, judge) -> None:
    """Run eval suites through ask() and write one report; exit 1 under thresholds.

    The BBC suites need the BBC News archive (../shared/corpora/ beside the repository, or
    NEWSQA_BBC_ARCHIVE): without it they exit 2, never a pass. The first run extracts and
    indexes it into NEWSQA_CACHE_DIR (about 3 minutes), later runs reuse that index."""
    from evals.runner import run_cli

    sys.exit(run_cli(get_settings(), suite=suite, backend=backend, compare=compare,
                     rgb_path=rgb_path, out_dir=out_dir, progress=True, judge=judge))


def _day(value) -> date | None:
    return value.date() if value else None


if __name__ == "__main__":
    main()
