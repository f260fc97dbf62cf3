"""Eval metrics as pure functions: retrieval, answer correctness, citations, support, refusal,
latency, and their aggregation per kind. No I/O here: the runner passes file texts in.

Example: `hit_at_k(["a.txt", "a.txt", "b.txt"], ["b.txt"], k=3) == 1.0` and
`reciprocal_rank(["a.txt", "a.txt", "b.txt"], ["b.txt"]) == 0.5` (ranks count distinct files).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Per-case metrics (averaged over the cases where they apply) ...
CASE_METRICS = (
    "hit_at_k",
    "mrr",
    "retrieval_recall",
    "correctness",
    "answerable_correctness",
    "short_correctness",
    "citation_validity",
    "citation_precision",
    "citation_recall",
    "gold_cited",
    "support",
    "faithfulness_llm",
)
# ... and metrics computed over a whole group of cases.
GROUP_METRICS = ("refusal_precision", "refusal_recall", "latency_p50_ms", "latency_p95_ms")
METRICS = CASE_METRICS + GROUP_METRICS


class CitationLike(Protocol):
    marker: int
    source: str
    quote: str
    start: int
    end: int


@dataclass
class CaseScore:
    """One case's scores; a value of None means the metric does not apply to the case."""

    id: str
    kind: str
    expect_refusal: bool
    refused: bool
    latency_ms: float
    values: dict[str, float | None] = field(default_factory=dict)


# --- retrieval -------------------------------------------------------------------------------


def distinct(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats: several chunks of one file count once."""
    return list(dict.fromkeys(items))


def hit_at_k(ranked_sources: Sequence[str], expected: Sequence[str], k: int) -> float | None:
    """1.0 when any expected file is among the first k distinct retrieved files, else 0.0."""
    if not expected:
        return None
    return 1.0 if set(distinct(ranked_sources)[:k]) & set(expected) else 0.0


def retrieval_recall(
    ranked_sources: Sequence[str], expected: Sequence[str], k: int
) -> float | None:
    """Share of the distinct expected files found among the first k distinct retrieved files."""
    if not expected:
        return None
    wanted = set(expected)
    return len(set(distinct(ranked_sources)[:k]) & wanted) / len(wanted)


def reciprocal_rank(ranked_sources: Sequence[str], expected: Sequence[str]) -> float | None:
    """1/rank of the first expected file among the distinct retrieved files (0.0 if absent)."""
    if not expected:
        return None
    for rank, source in enumerate(distinct(ranked_sources), start=1):
        if source in expected:
            return 1.0 / rank
    return 0.0


# --- answer correctness ----------------------------------------------------------------------

_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"})


def normalize(text: str) -> str:
    """Lower case, straight quotes and dashes, single spaces: how expected strings are matched."""
    return " ".join(text.translate(_TYPOGRAPHY).lower().split())


def contains_phrase(text: str, phrase: str) -> bool:
    """Case-insensitive match of `phrase` in `text` on word boundaries ("two" not in "network")."""
    pattern = phrase_pattern(phrase)
    return pattern is not None and pattern.search(normalize(text)) is not None


def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """The pattern `contains_phrase` looks for in a `normalize`d text (None for no phrase)."""
    needle = normalize(phrase)
    if not needle:
        return None
    left = r"(?<![\w])" if needle[0].isalnum() else ""
    right = r"(?![\w])" if needle[-1].isalnum() else ""
    return re.compile(left + re.escape(needle) + right)


def answer_correctness(
    text: str, expected: Sequence[Sequence[str]], forbidden: Sequence[str] = ()
) -> float | None:
    """1.0 when every group has one alternative in `text` and no forbidden string is present."""
    if not expected and not forbidden:
        return None
    if any(contains_phrase(text, bad) for bad in forbidden):
        return 0.0
    groups_met = all(any(contains_phrase(text, alt) for alt in group) for group in expected)
    return 1.0 if groups_met else 0.0


def case_correctness(
    text: str,
    refused: bool,
    expect_refusal: bool,
    expected: Sequence[Sequence[str]],
    forbidden: Sequence[str] = (),
) -> float | None:
    """Correctness of one case: declining is the right answer to an unanswerable case, and
    the wrong one to an answerable case."""
    if expect_refusal:
        leaked = any(contains_phrase(text, bad) for bad in forbidden)
        return 1.0 if refused and not leaked else 0.0
    if refused:
        return 0.0
    return answer_correctness(text, expected, forbidden)


def short_correctness(
    short: str | None, correctness: float | None, expected: Sequence[Sequence[str]]
) -> float | None:
    """Of a right answer that leads with a short answer: 1.0 when that span holds an expected
    alternative ("£75m", not the "£75" of "£75m"; "Tim Osborne", not the question's "Menatep
    Group"). A right sentence under a wrong bold span still misleads a reader."""
    if short is None or not correctness or not expected:
        return None
    return 1.0 if any(contains_phrase(short, alt) for group in expected for alt in group) else 0.0


# --- citations ---------------------------------------------------------------------------------


def citation_is_valid(citation: CitationLike, texts: Mapping[str, str]) -> bool:
    """The source file's text sliced [start:end] reproduces the quote exactly."""
    text = texts.get(citation.source)
    if text is None or not 0 <= citation.start <= citation.end <= len(text):
        return False
    return text[citation.start : citation.end] == citation.quote


def citation_validity(citations: Sequence[CitationLike], texts: Mapping[str, str]) -> float | None:
    """Share of citations whose offsets reproduce their quote (None when there are none)."""
    if not citations:
        return None
    return sum(citation_is_valid(c, texts) for c in citations) / len(citations)


def citation_precision(
    citations: Sequence[CitationLike], expected_sources: Sequence[str]
) -> float | None:
    """Share of citations pointing into an expected file."""
    if not citations or not expected_sources:
        return None
    wanted = set(expected_sources)
    return sum(c.source in wanted for c in citations) / len(citations)


def gold_cited(citations: Sequence[CitationLike], expected_sources: Sequence[str]) -> float | None:
    """1.0 when a citation points into an expected file (a refused answer cites nothing: 0.0)."""
    if not expected_sources:
        return None
    wanted = set(expected_sources)
    return 1.0 if any(c.source in wanted for c in citations) else 0.0


def citation_recall(
    citations: Sequence[CitationLike], expected_sources: Sequence[str]
) -> float | None:
    """Share of the distinct expected files that at least one citation points into."""
    if not expected_sources:
        return None
    wanted = set(expected_sources)
    return len({c.source for c in citations} & wanted) / len(wanted)


# --- support (offline ALCE-style proxy) --------------------------------------------------------

_MARKER = re.compile(r"\[(\d+)\]")
_LEADING_MARKERS = re.compile(r"^\s*((?:\[\d+\][\s,;]*)+)")
_BOUNDARY = re.compile(r"[.!?][\"”’')\]]*\s+(?=[\"“‘(\[]?[A-Z0-9\[])")
# Words before a full stop that do not end a sentence ("U.S. officials", "Col. Wayne").
_ABBREVIATIONS = {
    "u.s", "u.n", "mr", "mrs", "ms", "dr", "gen", "col", "cmdr", "lt", "sgt", "st", "adm",
    "a.m", "p.m", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "no", "vs", "e.g", "i.e",
}
_STOPWORD_TEXT = """
    a an and are as at be been being but by can could did do does for from had has have he
    her his how i if in into is it its itself may might more most no not of on or our out over
    per she should so some such than that the their them then there these they this those to
    under up was we were what when where which while who whom whose why will with would you
    also about after before between both each other only own same very just said says say
    according article articles reported reports report reportedly stated"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_NUMBER_TEXT = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    " fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(_NUMBER_TEXT.split())
}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d+(?:[.,:]\d+)*")


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer; markers written after the full stop stay with their sentence."""
    pieces, start = [], 0
    for match in _BOUNDARY.finditer(text):
        words = text[start : match.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        if last in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last):
            continue
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return _reattach_markers([p.strip() for p in pieces if p.strip()])


def _reattach_markers(sentences: list[str]) -> list[str]:
    out: list[str] = []
    for sentence in sentences:
        lead = _LEADING_MARKERS.match(sentence)
        if lead and out:
            out[-1] = f"{out[-1]} {lead.group(1).strip()}"
            sentence = sentence[lead.end() :].strip()
        if sentence:
            out.append(sentence)
    return out


def _tokens(text: str) -> list[str]:
    return [t.strip("'’-").replace("’", "'") for t in _WORD.findall(_MARKER.sub(" ", text))]


def _canonical(token: str) -> str:
    """Lower case, no possessive, number words as digits, no thousands separators."""
    word = token.lower().removesuffix("'s")
    word = _NUMBER_WORDS.get(word, word)
    return word.replace(",", "") if word[:1].isdigit() else word


def sentence_claims(sentence: str) -> tuple[set[str], set[str], set[str]]:
    """(numbers, names, content words) a sentence asserts, in canonical form."""
    tokens = [t for t in _tokens(sentence) if t]
    numbers = {_canonical(t) for t in tokens if _canonical(t)[:1].isdigit()}
    names = {
        _canonical(t)
        for i, t in enumerate(tokens)
        if i > 0 and t[:1].isupper() and t.lower() not in _STOPWORDS
    }
    content = {
        _canonical(t)
        for t in tokens
        if len(t) > 2 and t.lower() not in _STOPWORDS and not _canonical(t)[:1].isdigit()
    }
    return numbers, names - numbers, content


def sentence_supported(sentence: str, passages: Sequence[str], min_content: float = 0.6) -> bool:
    """A sentence is supported when its cited passages hold all its numbers and names and at
    least `min_content` of its content words."""
    numbers, names, content = sentence_claims(sentence)
    if not passages:
        return not (numbers or names or content)
    evidence = {_canonical(t) for t in _tokens(" ".join(passages))}
    if not numbers <= evidence or not names <= evidence:
        return False
    if not content:
        return True
    return len(content & evidence) / len(content) >= min_content


def support(
    text: str, citations: Sequence[CitationLike], min_content: float = 0.6
) -> float | None:
    """Share of the answer's sentences supported by the passages their [n] markers cite.

    The evidence for a citation is its quote plus the article's title and date, as ISO and
    as written (an answer may state when an article was published)."""
    by_marker: dict[int, list[str]] = {}
    for c in citations:
        extra = [getattr(c, name, None) or "" for name in ("title", "published", "date_text")]
        by_marker.setdefault(c.marker, []).append(" ".join([c.quote, *extra]))
    # Each line is a claim of its own (a digest lists one article a line); a line ending in
    # a colon only leads into the next ones ("What the articles say, newest first:").
    lines = [line for line in text.splitlines() if not line.rstrip().endswith(":")]
    sentences = [s for line in lines for s in split_sentences(line) if any(sentence_claims(s))]
    if not sentences:
        return None
    supported = 0
    for sentence in sentences:
        markers = {int(m) for m in _MARKER.findall(sentence)}
        passages = [p for m in sorted(markers) for p in by_marker.get(m, [])]
        supported += sentence_supported(sentence, passages, min_content)
    return supported / len(sentences)


# --- refusal, latency, aggregation -------------------------------------------------------------


def refusal_precision_recall(
    outcomes: Sequence[tuple[bool, bool]],
) -> tuple[float | None, float | None]:
    """Precision and recall of refusing, from (expected_refusal, refused) pairs.

    Precision is None when nothing was refused, recall when no case expected a refusal."""
    true_pos = sum(1 for expect, refused in outcomes if expect and refused)
    refused = sum(1 for _, r in outcomes if r)
    expected = sum(1 for e, _ in outcomes if e)
    precision = true_pos / refused if refused else None
    recall = true_pos / expected if expected else None
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(scores: Sequence[CaseScore]) -> dict[str, float | None]:
    """All metrics over one group of cases (a kind, or the whole suite)."""
    summary: dict[str, float | None] = {"cases": len(scores)}
    for metric in CASE_METRICS:
        applicable = [s.values[metric] for s in scores if s.values.get(metric) is not None]
        summary[metric] = statistics.fmean(applicable) if applicable else None
    outcomes = [(s.expect_refusal, s.refused) for s in scores]
    summary["refusal_precision"], summary["refusal_recall"] = refusal_precision_recall(outcomes)
    latencies = [s.latency_ms for s in scores]
    summary["latency_p50_ms"] = percentile(latencies, 50)
    summary["latency_p95_ms"] = percentile(latencies, 95)
    return summary


def aggregate(scores: Sequence[CaseScore]) -> dict[str, dict[str, float | None]]:
    """{"overall": metrics, "<kind>": metrics, ...}; an empty suite gives overall with 0 cases."""
    kinds = distinct(s.kind for s in scores)
    result = {"overall": summarize(scores)}
    for kind in kinds:
        result[kind] = summarize([s for s in scores if s.kind == kind])
    return result


def check_thresholds(
    summary: Mapping[str, Mapping[str, float | None]],
    minimums: Mapping[str, float],
    maximums: Mapping[str, float] | None = None,
) -> list[str]:
    """Messages for every "<scope>.<metric>" under its minimum or over its maximum.

    A threshold on a metric that was not measured (no applicable cases) fails too: a gate
    that silently passes on nothing is no gate."""
    failures = []
    for bound, limits in (("min", minimums), ("max", maximums or {})):
        for key, limit in limits.items():
            scope, _, metric = key.partition(".")
            value = summary.get(scope, {}).get(metric)
            if value is None:
                failures.append(f"{key}: not measured (threshold {bound} {limit})")
            elif (bound == "min" and value < limit) or (bound == "max" and value > limit):
                failures.append(f"{key} = {value:.3f}, {bound} {limit}")
    return failures
