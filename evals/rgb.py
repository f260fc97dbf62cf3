"""RGB-style benchmark files (Chen et al. 2023, "Benchmarking LLMs in Retrieval-Augmented
Generation") turned into a corpus of passage files plus a suite, scored with the same metrics.

One JSON object per line: {"id": 3, "query": "...", "answer": [...], "positive": [...],
"negative": [...]}. `answer` items are required strings or lists of alternatives (as RGB's
checkanswer reads them); `positive` may also be a list of lists (RGB's `_int` files). Bring
your own copy of the data: nothing third-party is committed here.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from evals.suite import Case, Suite, SuiteError, Thresholds


class RgbRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")  # RGB files carry more fields (positive_wrong, ...)

    id: int | str
    query: str
    answer: str | list[str | list[str]]
    positive: list[str | list[str]]
    negative: list[str] = []

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is empty")
        return value

    def answer_groups(self) -> list[list[str]]:
        """Every group required, any alternative in a group accepted."""
        items = [self.answer] if isinstance(self.answer, str) else self.answer
        groups = [[item] if isinstance(item, str) else list(item) for item in items]
        return [[alt for alt in group if alt.strip()] for group in groups if group]

    def positive_passages(self) -> list[str]:
        flat = [p for item in self.positive for p in ([item] if isinstance(item, str) else item)]
        return [p for p in flat if p.strip()]


def load_rgb(path: Path, limit: int | None = None) -> list[RgbRecord]:
    """Records of an RGB-style JSONL file; errors name the file and line."""
    records: list[RgbRecord] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(RgbRecord.model_validate_json(line))
        except ValidationError as error:
            problem = error.errors()[0]
            place = ".".join(str(p) for p in problem["loc"])
            raise SuiteError(f"{path}:{number}: {place}: {problem['msg']}") from None
        if limit is not None and len(records) >= limit:
            break
    return records


def build_corpus(records: list[RgbRecord], corpus_dir: Path, *, rejection: bool = True) -> Suite:
    """Write each record's passages as files under `corpus_dir` and return the matching suite.

    Each question retrieves only among its own passages (as in RGB, where the model sees
    that record's documents). With `rejection`, each record with negatives also gives a
    "negative rejection" case: only the negative passages, and the system should decline."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    for record in records:
        stem = _safe_stem(record.id)
        positives = _write_passages(corpus_dir, f"{stem}_pos", record.positive_passages())
        negatives = _write_passages(corpus_dir, f"{stem}_neg", record.negative)
        cases.append(_answer_case(record, stem, positives, negatives))
        if rejection and negatives:
            cases.append(_rejection_case(record, stem, negatives))
    return Suite(name="rgb", cases=cases, thresholds=Thresholds())


def _answer_case(record: RgbRecord, stem: str, positives: list[str], negatives: list[str]) -> Case:
    return Case(
        id=f"rgb-{stem}",
        kind="rgb",
        question=record.query,
        expected=record.answer_groups(),
        expected_sources=positives,
        only_sources=positives + negatives,
    )


def _rejection_case(record: RgbRecord, stem: str, negatives: list[str]) -> Case:
    return Case(
        id=f"rgb-{stem}-noise-only",
        kind="unanswerable",
        question=record.query,
        expect_refusal=True,
        only_sources=negatives,
    )


def _write_passages(corpus_dir: Path, prefix: str, passages: list[str]) -> list[str]:
    names = []
    for number, passage in enumerate(passages):
        name = f"{prefix}{number}.txt"
        (corpus_dir / name).write_text(passage.strip() + "\n", encoding="utf-8")
        names.append(name)
    return names


def _safe_stem(record_id: int | str) -> str:
    return "q" + re.sub(r"[^A-Za-z0-9_-]+", "_", str(record_id))

