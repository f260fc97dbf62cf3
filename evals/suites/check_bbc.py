"""Check the BBC suites against the archive itself; prints every problem, exits 1 on any.

    python evals/suites/check_bbc.py [--archive PATH] [--add-duplicates] [--partial] [SUITE.jsonl ...]

Default suites: bbc-dev.jsonl, bbc-val.jsonl, bbc-train.jsonl and bbc-test.jsonl beside this script. It checks that
- every gold file exists, and lists its byte-identical duplicates too (`--add-duplicates`
  writes them in);
- every gold file is on the suite's side of the split (`evals.bbc.split_of`), has no near
  copy (half its 5-word shingles shared, not byte-identical) on the other side, and no article
  and no question is in two suites;
- every expected group of an answerable case occurs, as written, in a gold file; a
  multi_article case has at least two distinct articles, each holding one of the groups;
- every unanswerable case is close: it names its event (`event` groups, all found in each
  of its gold files) and the missing detail (`missing` groups), and no file of all 2,225
  holds every `event` and every `missing` group together;
- the mix: at least 240 cases, 60% single facts, 10% multi-article, 25% unanswerable.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from evals.bbc import ArchiveMissing, article_files, duplicate_groups, prepare_corpus, split_of
from evals.metrics import normalize, phrase_pattern
from evals.suite import Case, Suite, load_suite
from rag.config import Settings

SUITES = [Path(__file__).with_name(f"bbc-{name}.jsonl") for name in ("dev", "val", "train", "test")]
MIX = {"single_fact": 0.60, "multi_article": 0.10, "unanswerable": 0.25}
MIN_CASES = 240
NEAR_COPY = 0.5  # Jaccard similarity of 5-word shingles


class Archive:
    """The extracted articles, normalized once for phrase matching."""

    def __init__(self, corpus: Path) -> None:
        from index.reader import read_file

        self.sources = article_files(corpus)
        self.duplicates = duplicate_groups(corpus)
        self.texts = {s: normalize(read_file(corpus / s, corpus).text) for s in self.sources}
        self.near = near_copies(self.texts)

    def holds(self, source: str, group: list[str]) -> bool:
        """Some alternative of `group` occurs in the file (as `evals.metrics` matches it)."""
        text = self.texts[source]
        return any((p := phrase_pattern(alt)) and p.search(text) for alt in group)

    def article(self, source: str) -> str:
        """One name for an article and its byte-identical copies."""
        return self.duplicates.get(source, [source])[0]


def near_copies(texts: dict[str, str], threshold: float = NEAR_COPY) -> dict[str, set[str]]:
    """Source -> the other sources sharing at least `threshold` of their 5-word shingles
    (Jaccard): the same story filed twice with small edits."""
    shingles = {}
    for source, text in texts.items():
        words = re.findall(r"\w+", text)
        shingles[source] = {" ".join(words[i : i + 5]) for i in range(len(words) - 4)}
    holders: dict[str, set[str]] = defaultdict(set)
    for source, own in shingles.items():
        for shingle in own:
            holders[shingle].add(source)
    shared: Counter = Counter()
    for group in holders.values():
        if 1 < len(group) < 20:  # a shingle in many files is boilerplate, not a copy
            shared.update(itertools.combinations(sorted(group), 2))
    near: dict[str, set[str]] = defaultdict(set)
    for (a, b), count in shared.items():
        if count / len(shingles[a] | shingles[b]) >= threshold:
            near[a].add(b)
            near[b].add(a)
    return near


def check_case(case: Case, split: str, archive: Archive) -> list[str]:
    problems = []
    unknown = [s for s in case.expected_sources if s not in archive.texts]
    if unknown:
        return [f"no file {unknown[0]} in the archive"]
    if not case.expected_sources:
        problems.append("no gold file (expected_sources)")
    for source in case.expected_sources:
        missing_copies = set(archive.duplicates.get(source, [])) - set(case.expected_sources)
        if missing_copies:
            problems.append(f"{source} has duplicates not listed: {sorted(missing_copies)}")
        if split_of(source, archive.duplicates) != split:
            problems.append(f"{source} is a {split_of(source, archive.duplicates)} article")
        across = sorted(c for c in archive.near.get(source, ())
                        if split_of(c, archive.duplicates) != split)
        if across:
            problems.append(f"{source} has a near copy on the other side of the split: {across}")
    problems += check_unanswerable(case, archive) if case.expect_refusal else check_answer(
        case, archive
    )
    return problems


def check_answer(case: Case, archive: Archive) -> list[str]:
    problems = []
    for group in case.expected:
        if not any(archive.holds(s, group) for s in case.expected_sources):
            problems.append(f"none of {group} occurs in {case.expected_sources}")
    if case.kind == "multi_article":
        articles = {archive.article(s) for s in case.expected_sources}
        if len(articles) < 2:
            problems.append("a multi_article case needs two distinct articles")
        for article in articles:
            if not any(archive.holds(article, group) for group in case.expected):
                problems.append(f"{article} holds none of the expected groups")
    return problems


def check_unanswerable(case: Case, archive: Archive) -> list[str]:
    if not case.event or not case.missing:
        return ["an unanswerable case names its 'event' and its 'missing' detail"]
    problems = []
    for source in case.expected_sources:
        absent = [g for g in case.event if not archive.holds(source, g)]
        if absent:
            problems.append(f"event group {absent[0]} is not in {source}")
    groups = [*case.event, *case.missing]
    answering = [s for s in archive.sources if all(archive.holds(s, g) for g in groups)]
    if answering:
        problems.append(f"the detail may be given: {answering[:3]} match every event and "
                        "missing group")
    return problems


def check_suites(suites: list[Suite], archive: Archive, mix: bool = True) -> list[str]:
    problems = []
    for suite in suites:
        for case in suite.cases:
            problems += [f"{suite.name}/{case.id}: {p}" for p in
                         check_case(case, suite.split, archive)]
    problems += check_disjoint(suites, archive)
    if mix:
        problems += check_mix([c for s in suites for c in s.cases])
    return problems


def check_disjoint(suites: list[Suite], archive: Archive) -> list[str]:
    seen_articles: dict[str, str] = {}
    seen_questions: dict[str, str] = {}
    problems = []
    for suite in suites:
        for case in suite.cases:
            for source in case.expected_sources:
                first = seen_articles.setdefault(archive.article(source), suite.name)
                if first != suite.name:
                    problems.append(f"{source} is in {first} and {suite.name}")
            for question in case.questions:
                first = seen_questions.setdefault(normalize(question), suite.name)
                if first != suite.name:
                    problems.append(f"question {question!r} is in {first} and {suite.name}")
    return problems


def check_mix(cases: list[Case]) -> list[str]:
    kinds = Counter(c.kind for c in cases)
    problems = [] if len(cases) >= MIN_CASES else [f"{len(cases)} cases, under {MIN_CASES}"]
    for kind, share in MIX.items():
        if kinds[kind] < share * len(cases):
            problems.append(f"{kinds[kind]} {kind} cases, under {share:.0%} of {len(cases)}")
    return problems


def add_duplicates(path: Path, archive: Archive) -> None:
    """Rewrite a suite file with every gold file's duplicates listed after it."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else None
        if record and "expected_sources" in record:
            sources = [c for s in record["expected_sources"] for c in
                       archive.duplicates.get(s, [s])]
            record["expected_sources"] = list(dict.fromkeys(sources))
            line = json.dumps(record, ensure_ascii=False)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", type=Path, default=SUITES)
    parser.add_argument("--archive", type=Path, help="the BBC archive (default: ../shared)")
    parser.add_argument("--add-duplicates", action="store_true",
                        help="write every gold file's duplicates into the suites first")
    parser.add_argument("--partial", action="store_true",
                        help="a part of the suites: skip the size and mix checks")
    args = parser.parse_args(argv)
    settings = Settings(_env_file=None, bbc_archive=args.archive)
    try:
        archive = Archive(prepare_corpus(settings))
    except ArchiveMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.add_duplicates:
        for path in args.suites:
            add_duplicates(path, archive)
    suites = [load_suite(path) for path in args.suites]
    problems = check_suites(suites, archive, mix=not args.partial)
    for problem in problems:
        print(problem)
    cases = sum(len(s.cases) for s in suites)
    print(f"{cases} cases in {len(suites)} suites, {len(archive.sources)} articles: "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
