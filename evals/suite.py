"""Eval suites: a JSON-lines file of cases, and its thresholds in a JSON file beside it.

`NAME.jsonl` holds one case per line (blank lines are skipped), e.g.
    {"id": "fact-1", "kind": "single_fact", "question": "Who commands CENTCOM?",
     "expected": [["Brad Cooper", "Cooper"]], "expected_sources": ["002_7a285edda9df7335.txt"]}
`expected` is a list of groups: every group must match, any alternative in a group will do
(case-insensitive, on word boundaries). Multi-turn cases give `turns` instead of `question`;
their `expected` is about the last turn. Unanswerable cases set `"expect_refusal": true`.
`forbidden` lists strings the answer must not contain (prompt-injection cases).
`only_sources` restricts retrieval to some files (the RGB loader uses it to give each
question its own passages).

The first line may be a header that says what the suite is:
    {"suite": {"split": "test", "corpus": "bbc", "about": "..."}}
`split` is "dev" (tune on it) or "test" (never tune on it; its thresholds are set from the
first honest run). `corpus` is "default" (the configured corpus dir) or "bbc" (the BBC News
archive, see `evals.bbc`). A suite without a header is a dev suite over the default corpus.
Unanswerable cases may name the event they are about and the detail no file gives:
`event` groups all occur in the expected sources, and no file of the corpus matches every
`event` group and every `missing` group together (checked by `evals/suites/check_bbc.py`).

`NAME.thresholds.json` (optional) gates the run:
    {"min": {"overall.citation_validity": 1.0, "unanswerable.refusal_recall": 0.5},
     "max": {"overall.latency_p95_ms": 5000},
     "backends": {"openai": {"min": {"overall.citation_validity": 1.0}}}}
Keys are "<overall or kind>.<metric>" with the metric names of `evals.metrics.METRICS`.
`min`/`max` gate the extractive backend; another backend is gated only by its own entry
under `backends` (an LLM's latency and quality are its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.metrics import METRICS
from rag.errors import ConfigError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
KINDS = (
    "single_fact",
    "multi_article",
    "conflicting",
    "temporal",
    "unanswerable",
    "multi_turn",
    "injection",
    "digest",
    "rgb",
)


class SuiteError(ConfigError):
    """A suite or thresholds file is malformed; the message names the file and line."""


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: str
    question: str | None = None
    turns: list[str] | None = None
    expected: list[list[str]] = Field(default_factory=list)
    expected_sources: list[str] = Field(default_factory=list)
    expect_refusal: bool = False
    forbidden: list[str] = Field(default_factory=list)
    only_sources: list[str] | None = None  # restrict retrieval to these files (Filters.sources)
    event: list[list[str]] = Field(default_factory=list)  # what an unanswerable case is about
    missing: list[list[str]] = Field(default_factory=list)  # the detail no file gives
    notes: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Case:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if (self.question is None) == (self.turns is None):
            raise ValueError("give exactly one of 'question' or 'turns'")
        if any(not q.strip() for q in self.questions):
            raise ValueError("questions must not be empty")
        if any(not group or not all(s.strip() for s in group) for group in self.expected):
            raise ValueError("each 'expected' group needs at least one non-empty string")
        if not self.expect_refusal and not self.expected:
            raise ValueError("an answerable case needs 'expected' (or set expect_refusal)")
        if self.missing and not self.expect_refusal:
            raise ValueError("'missing' is for unanswerable cases (set expect_refusal)")
        return self

    @property
    def questions(self) -> list[str]:
        """The questions asked in order; the last one is scored."""
        return list(self.turns) if self.turns is not None else [self.question or ""]


class Gates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)


class Thresholds(Gates):
    """`min`/`max` gate the extractive backend; `backends` holds the gates of others (an
    LLM has its own latency and quality), and a backend not listed there is not gated."""

    backends: dict[str, Gates] = Field(default_factory=dict)

    def for_backend(self, backend: str) -> Gates:
        if backend == "extractive":
            return Gates(min=self.min, max=self.max)
        return self.backends.get(backend, Gates())

    @model_validator(mode="after")
    def _check(self) -> Thresholds:
        keys = [*self.min, *self.max] + [k for g in self.backends.values() for k in [*g.min, *g.max]]
        for key in keys:
            scope, dot, metric = key.partition(".")
            if not dot or metric not in METRICS or (scope != "overall" and scope not in KINDS):
                raise ValueError(
                    f"{key!r} is not '<overall or kind>.<metric>' (metrics: {', '.join(METRICS)})"
                )
        return self


class Header(BaseModel):
    """What a suite is: dev or test, and which corpus its cases are about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: Literal["dev", "test"] = "dev"
    corpus: Literal["default", "bbc"] = "default"
    about: str | None = None


@dataclass
class Suite:
    name: str
    cases: list[Case]
    thresholds: Thresholds = field(default_factory=Thresholds)
    path: Path | None = None
    header: Header = field(default_factory=Header)

    @property
    def split(self) -> str:
        return self.header.split


def resolve_suite_path(spec: str | Path) -> Path:
    """'seeds' (or any name of a bundled suite) or a path to a .jsonl file."""
    bundled = SUITES_DIR / f"{spec}.jsonl"
    path = bundled if bundled.is_file() else Path(spec)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.jsonl")))
        raise SuiteError(f"no suite file {spec}: pass a bundled suite ({names}) or the path "
                         "of a .jsonl suite")
    return path


def load_suite(spec: str | Path) -> Suite:
    """Read and validate a suite and its thresholds file; errors name the file and line."""
    path = resolve_suite_path(spec)
    header, cases = parse_suite(path.read_text(encoding="utf-8"), str(path))
    return Suite(path.stem, cases, load_thresholds(thresholds_path(path)), path, header)


def thresholds_path(suite_path: Path) -> Path:
    return suite_path.with_name(f"{suite_path.stem}.thresholds.json")


def parse_cases(text: str, where: str) -> list[Case]:
    """Cases of a JSON-lines text; `where` names the file in error messages."""
    return parse_suite(text, where)[1]


def parse_suite(text: str, where: str) -> tuple[Header, list[Case]]:
    """The header (or the default one) and the cases of a JSON-lines suite text."""
    header = Header()
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        place = f"{where}:{number}"
        record = _load_line(line, place)
        if not first_line and "suite" in record:
            header = _parse_header(record, place)
            first_line[""] = number
            continue
        case = _parse_case(record, place)
        if case.id in first_line:
            raise SuiteError(
                f"{place}: duplicate case id {case.id!r} (first on line {first_line[case.id]})"
            )
        first_line[case.id] = number
        cases.append(case)
    return header, cases


def _load_line(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise SuiteError(f"{where}: not valid JSON ({error.msg}, column {error.colno})") from None
    if not isinstance(record, dict):
        raise SuiteError(f"{where}: a case must be a JSON object")
    return record


def _parse_header(record: dict, where: str) -> Header:
    if set(record) != {"suite"} or not isinstance(record["suite"], dict):
        raise SuiteError(f'{where}: a header line is {{"suite": {{"split": ..., "corpus": ...}}}}')
    try:
        return Header.model_validate(record["suite"])
    except ValidationError as error:
        raise SuiteError(f"{where}: suite header {_first_problem(error)}") from None


def _parse_case(record: dict, where: str) -> Case:
    try:
        return Case.model_validate(record)
    except ValidationError as error:
        label = f" case {record.get('id')!r}" if record.get("id") else ""
        raise SuiteError(f"{where}:{label} {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    place = ".".join(str(p) for p in problem["loc"])
    message = problem["msg"].removeprefix("Value error, ")
    return f"{place}: {message}" if place else message


def load_thresholds(path: Path) -> Thresholds:
    """Thresholds from `path`; none (nothing gated) when the file does not exist."""
    if not path.is_file():
        return Thresholds()
    try:
        return Thresholds.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise SuiteError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except ValidationError as error:
        raise SuiteError(f"{path}: {_first_problem(error)}") from None
