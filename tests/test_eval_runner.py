"""The eval runner end to end over the real bundled index, the RGB loader, and the
runner's pieces (history feeding, failed requests, backend choice)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply
from pydantic import SecretStr

from evals.rgb import build_corpus, load_rgb
from evals.runner import CorpusTexts, choose_backends, run_case, run_cli
from evals.suite import Case, SuiteError
from rag.errors import ConfigError, LLMError
from rag.types import Answer, Citation

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "articles"
CENTCOM = "002_7a285edda9df7335.txt"

TINY_SUITE = [
    {"id": "cooper", "kind": "single_fact", "question": "Who is the commander of CENTCOM?",
     "expected": [["Brad Cooper"]], "expected_sources": [CENTCOM]},
    {"id": "football", "kind": "unanswerable", "question": "Who won the 2024 Champions League?",
     "expect_refusal": True},
    {"id": "cooper-said", "kind": "multi_turn",
     "turns": ["Who is the commander of CENTCOM?", "What did he call the operation?"],
     "expected": [["successful partnership"]], "expected_sources": [CENTCOM]},
]

# A tiny hand-made file in the shape of RGB's en.json (invented content, not RGB data).
RGB_RECORDS = [
    {"id": 0, "query": "Which city hosted the 2031 Lantern Festival?",
     "answer": [["Marrowby", "Marrowby town"]],
     "positive": [("The 2031 Lantern Festival was hosted by the town of Marrowby, whose mayor "
                  "opened it on a rainy evening.")],
     "negative": ["The 2029 Lantern Festival drew record crowds to the coastal town of Edda."]},
    {"id": "q1", "query": "How many boats took part in the Kettle Lake regatta?",
     "answer": ["forty-two"],
     "positive": [["Forty-two boats took part in the Kettle Lake regatta this summer."]],
     "negative": ["The Kettle Lake fishing season opens in April."],
     "positive_wrong": ["ignored"]},
]


def write_suite(folder: Path, cases: list[dict], thresholds: dict | None = None) -> Path:
    path = folder / "tiny.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    if thresholds is not None:
        (folder / "tiny.thresholds.json").write_text(json.dumps(thresholds), encoding="utf-8")
    return path


def write_rgb(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- end to end over the bundled index ---------------------------------------------------------


def test_runner_writes_report_and_passes_reachable_thresholds(bundled_index, tmp_path, capsys):
    suite = write_suite(tmp_path, TINY_SUITE, {"min": {"overall.citation_validity": 1.0}})
    out = tmp_path / "report"
    code = run_cli(bundled_index, suite=suite, backend="extractive", out_dir=out)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "suite tiny (dev, 3 cases)" in printed and "all thresholds met" in printed
    results = json.loads((out / "results.json").read_text())
    run = results["suites"][0]["runs"][0]
    assert run["backend"] == "extractive"
    assert [c["id"] for c in run["cases"]] == ["cooper", "football", "cooper-said"]
    multi = run["cases"][2]
    assert multi["history"][0][0] == "Who is the commander of CENTCOM?"
    for case in run["cases"]:
        assert case["answer"]["text"] and set(case["scores"]) >= {"correctness", "support"}
    assert set(run["summary"]) == {"overall", "single_fact", "unanswerable", "multi_turn"}
    markdown = (out / "report.md").read_text()
    assert "| kind | backend | n |" in markdown and "overall.citation_validity" in markdown
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runner_exits_1_when_a_metric_is_under_threshold(bundled_index, tmp_path, capsys):
    thresholds = {"min": {"overall.citation_validity": 1.0}, "max": {"overall.latency_p50_ms": 0.001}}
    suite = write_suite(tmp_path, TINY_SUITE[:1], thresholds)
    code = run_cli(bundled_index, suite=suite, backend="extractive", out_dir=tmp_path / "r")
    printed = capsys.readouterr().out
    assert code == 1
    assert "UNDER THRESHOLD: overall.latency_p50_ms" in printed
    assert (tmp_path / "r" / "report.md").is_file()


def test_rgb_file_is_scored_in_a_scratch_store(make_rgb_settings, tmp_path, capsys):
    settings = make_rgb_settings
    rgb = write_rgb(tmp_path / "rgb.jsonl", RGB_RECORDS)
    out = tmp_path / "rgb-report"
    assert run_cli(settings, suite="seeds", backend="extractive", rgb_path=rgb, out_dir=out) == 0
    run = json.loads((out / "results.json").read_text())["suites"][0]["runs"][0]
    assert [c["id"] for c in run["cases"]] == ["rgb-q0", "rgb-q0-noise-only", "rgb-qq1",
                                               "rgb-qq1-noise-only"]
    answered = run["cases"][0]
    assert answered["expected_sources"] == ["q0_pos0.txt"]
    assert set(answered["ranked_sources"]) <= {"q0_pos0.txt", "q0_neg0.txt"}
    assert answered["scores"]["citation_validity"] in (None, 1.0)
    assert run["summary"]["overall"]["cases"] == 4
    assert not settings.store_dir.exists()  # the user's store is never touched


@pytest.fixture
def make_rgb_settings(tmp_path):
    from rag.config import Settings

    return Settings(_env_file=None, corpus_dir=BUNDLED, store_dir=tmp_path / "user-store")


# --- RGB loader -----------------------------------------------------------------------------


def test_rgb_records_become_passage_files_and_cases(tmp_path):
    records = load_rgb(write_rgb(tmp_path / "rgb.jsonl", RGB_RECORDS))
    assert records[0].answer_groups() == [["Marrowby", "Marrowby town"]]
    assert records[1].answer_groups() == [["forty-two"]]
    suite = build_corpus(records, tmp_path / "corpus")
    files = sorted(p.name for p in (tmp_path / "corpus").iterdir())
    assert files == ["q0_neg0.txt", "q0_pos0.txt", "qq1_neg0.txt", "qq1_pos0.txt"]
    first, rejection = suite.cases[:2]
    assert first.expected_sources == ["q0_pos0.txt"]
    assert first.only_sources == ["q0_pos0.txt", "q0_neg0.txt"]
    assert rejection.expect_refusal and rejection.only_sources == ["q0_neg0.txt"]
    assert "Marrowby" in (tmp_path / "corpus" / "q0_pos0.txt").read_text()
    assert len(build_corpus(records, tmp_path / "c2", rejection=False).cases) == 2


def test_rgb_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RGB_RECORDS[0]) + "\n" + '{"id": 5, "answer": ["x"]}\n')
    with pytest.raises(SuiteError, match=r"bad.jsonl:2: query: Field required"):
        load_rgb(path)


# --- runner pieces ----------------------------------------------------------------------------


class RecordingEngine:
    """Answers every question with the sentence about Brad Cooper; records what it was asked."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, list | None]] = []
        self.fail = fail
        text = (BUNDLED / CENTCOM).read_text(encoding="utf-8")
        quote = "Admiral Brad Cooper, CENTCOM’s commander"
        self.citation = Citation(marker=1, source=CENTCOM, article_id="a", quote=quote,
                                 start=text.index(quote), end=text.index(quote) + len(quote))

    def ask(self, question, history=None, *, top_k=None, filters=None) -> Answer:
        self.calls.append((question, history))
        if self.fail:
            raise LLMError("rate limited: try again later")
        return Answer(text=f"{self.citation.quote} [1].", citations=[self.citation])


def test_run_case_feeds_history_and_scores_the_last_turn():
    engine = RecordingEngine()
    case = Case(id="t", kind="multi_turn", turns=["Who commands CENTCOM?", "Say it again?"],
                expected=[["Brad Cooper"]], expected_sources=[CENTCOM])
    result = run_case(engine, case, CorpusTexts(BUNDLED), k=5)
    assert engine.calls[0] == ("Who commands CENTCOM?", None)
    assert engine.calls[1][1] == [("Who commands CENTCOM?", engine.citation.quote + " [1].")]
    values = result.score.values
    assert values["correctness"] == 1.0 and values["citation_validity"] == 1.0
    assert values["hit_at_k"] == 1.0 and values["citation_precision"] == 1.0
    assert values["support"] == 1.0
    assert result.ranked_sources == [CENTCOM]  # no retriever exposed: the cited files


def test_run_case_records_a_failed_llm_request_and_goes_on():
    case = Case(id="t", kind="single_fact", question="q", expected=[["x"]])
    result = run_case(RecordingEngine(fail=True), case, CorpusTexts(BUNDLED), k=5)
    assert result.answer is None and "rate limited" in result.error
    assert result.score.values["correctness"] == 0.0


def test_choose_backends(settings):
    assert choose_backends(settings, None, None) == ["extractive"]
    assert choose_backends(settings, "openai", None) == ["openai"]
    assert choose_backends(settings, None, "extractive, openai") == ["extractive", "openai"]
    with pytest.raises(ConfigError, match="unknown backend 'gpt'"):
        choose_backends(settings, None, "extractive,gpt")


# --- --compare and the LLM judge against a fake OpenAI-compatible server -------------------------


def fake_llm_reply(body: dict) -> Reply:
    """A rag prompt gets the first sentence of passage [1] cited as [1] (or "The articles
    don't say." when they share no word with the question); a judge prompt gets YES."""
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "YES" in prompt and "context" in prompt.lower() and "<<<PASSAGE" not in prompt:
        return Reply("YES")
    passage = re.search(r"<<<PASSAGE(-\w+)?\n(.*?)\nPASSAGE\1>>>", prompt, re.DOTALL)
    if passage is None:  # a follow-up rewrite: the question as it is
        return Reply(prompt.splitlines()[-1])
    question, text = prompt.rpartition("Question:")[2], passage.group(2).strip()
    if not set(re.findall(r"[a-z]{5,}", question.lower())) & set(
        re.findall(r"[a-z]{5,}", text.lower())
    ):
        return Reply("The articles don't say.")
    sentence = re.match(r".+?(?=[.!?](?:\s|$))", text, re.DOTALL)
    return Reply(f"{(sentence.group(0) if sentence else text).strip()} [1].")


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        fake.default = fake_llm_reply
        yield fake


def test_compare_runs_both_backends_side_by_side_with_llm_judge(
    bundled_index, fake_openai, tmp_path, capsys
):
    settings = bundled_index.model_copy(update={
        "openai_base_url": fake_openai.base_url,
        "openai_api_key": SecretStr("test-key"),
        "openai_timeout": 10.0,
        "openai_max_retries": 0,
    })
    suite = write_suite(tmp_path, TINY_SUITE[:2], {"min": {"overall.citation_validity": 1.0}})
    out = tmp_path / "cmp"
    code = run_cli(settings, suite=suite, compare="extractive,openai", out_dir=out, judge=True)
    printed = capsys.readouterr().out
    assert code == 0, printed
    runs = json.loads((out / "results.json").read_text())["suites"][0]["runs"]
    assert [r["backend"] for r in runs] == ["extractive", "openai:gpt-4o-mini"]
    cooper = runs[1]["cases"][0]
    assert cooper["answer"]["backend"] == "openai:gpt-4o-mini"
    assert cooper["answer"]["citations"] and cooper["scores"]["citation_validity"] == 1.0
    assert cooper["scores"]["faithfulness_llm"] == 1.0  # the judge asked the fake and got YES
    assert any("supported by the context" in json.dumps(r) for r in fake_openai.requests)
    assert "openai:gpt-4o-mini" in printed and "extractive" in printed
    table = (out / "report.md").read_text()
    assert "| overall | extractive |" in table and "| overall | openai:gpt-4o-mini |" in table


def test_the_judge_runs_only_when_asked_and_each_backend_has_its_own_gates(
    bundled_index, fake_openai, tmp_path, capsys
):
    """B12-B13: the judge ran for every backend, and the extractive 3 s p95 gate failed
    every local LLM."""
    settings = bundled_index.model_copy(update={
        "openai_base_url": fake_openai.base_url, "openai_timeout": 10.0})
    gates = {"min": {"overall.citation_validity": 1.0}, "max": {"overall.latency_p95_ms": 0.001},
             "backends": {"openai": {"min": {"overall.citation_validity": 1.0}}}}
    suite = write_suite(tmp_path, TINY_SUITE[:2], gates)
    code = run_cli(settings, suite=suite, compare="extractive,openai", out_dir=tmp_path / "g")
    printed = capsys.readouterr().out
    assert code == 1  # the extractive latency gate, not the LLM's
    assert "extractive: UNDER THRESHOLD: overall.latency_p95_ms" in printed
    assert "openai:gpt-4o-mini: all thresholds met" in printed
    assert not any("supported by the context" in json.dumps(r) for r in fake_openai.requests)


# --- several suites, suite headers, the BBC archive, the chart ---------------------------------


def test_several_suites_make_one_report_with_a_table_each_and_all_together(
    bundled_index, tmp_path, capsys
):
    first = write_suite(tmp_path, TINY_SUITE[:1], {"min": {"overall.citation_validity": 1.0}})
    second = tmp_path / "other.jsonl"
    header = {"suite": {"split": "test", "corpus": "default", "about": "Held out."}}
    second.write_text("".join(json.dumps(r) + "\n" for r in [header, TINY_SUITE[1]]))
    out = tmp_path / "both"
    code = run_cli(bundled_index, suite=f"{first},{second}", backend="extractive", out_dir=out)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "suite tiny (dev, 1 cases)" in printed and "suite other (test, 1 cases)" in printed
    assert "extractive: all thresholds met" in printed
    assert "extractive: no thresholds for this backend: not gated" in printed  # not "met"
    assert "all suites" in printed
    results = json.loads((out / "results.json").read_text())
    assert [(s["suite"], s["split"]) for s in results["suites"]] == [("tiny", "dev"),
                                                                     ("other", "test")]
    assert results["overall"]["extractive"]["cases"] == 2
    markdown = (out / "report.md").read_text()
    assert "## All suites" in markdown and "| other (test) | extractive | 1 |" in markdown
    assert "| all suites | extractive | 2 |" in markdown
    assert "no thresholds for this backend: not gated" in markdown


def test_answerable_correctness_and_gold_cited_are_reported(bundled_index, tmp_path):
    suite = write_suite(tmp_path, TINY_SUITE[:2])
    out = tmp_path / "r"
    run_cli(bundled_index, suite=suite, backend="extractive", out_dir=out)
    run = json.loads((out / "results.json").read_text())["suites"][0]["runs"][0]
    cooper, football = run["cases"]
    assert cooper["scores"]["answerable_correctness"] == cooper["scores"]["correctness"]
    assert cooper["scores"]["gold_cited"] in (0.0, 1.0)
    assert football["scores"]["answerable_correctness"] is None
    assert football["scores"]["gold_cited"] is None


def test_a_bbc_suite_without_the_archive_exits_2_and_says_where_to_put_it(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from rag.cli import main

    monkeypatch.setenv("NEWSQA_BBC_ARCHIVE", str(tmp_path / "nowhere" / "bbc-news-2225.tar.gz"))
    monkeypatch.setenv("NEWSQA_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["eval", "--suite", "bbc-test", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "nowhere/bbc-news-2225.tar.gz does not exist" in result.output
    assert "NEWSQA_BBC_ARCHIVE" in result.output and "Nothing was run" in result.output
    assert not (tmp_path / "results.json").exists()


def test_bbc_archive_is_extracted_once_into_the_cache_and_split_by_article(tmp_path):
    import tarfile

    from evals import bbc
    from rag.config import Settings

    source = tmp_path / "src" / "bbc"
    for name, text in [("business/001.txt", "A\n\nx"), ("business/002.txt", "B\n\ny"),
                       ("sport/004.txt", "A\n\nx"), ("README.TXT", "about")]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    archive = tmp_path / "bbc-news-2225.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="bbc")
    settings = Settings(_env_file=None, bbc_archive=archive, cache_dir=tmp_path / "cache")
    corpus = bbc.prepare_corpus(settings)
    assert corpus.parent.name == f"bbc-{bbc.file_sha256(archive)[:12]}"
    assert bbc.article_files(corpus) == ["business/001.txt", "business/002.txt", "sport/004.txt"]
    (corpus / "business" / "002.txt").write_text("changed")
    assert bbc.prepare_corpus(settings) == corpus  # reused, not extracted again
    assert (corpus / "business" / "002.txt").read_text() == "changed"
    duplicates = bbc.duplicate_groups(corpus)
    assert duplicates["sport/004.txt"] == ["business/001.txt", "sport/004.txt"]
    assert bbc.split_of("business/001.txt") == "dev" and bbc.split_of("business/002.txt") == "test"
    assert bbc.split_of("sport/004.txt", duplicates) == "dev"  # follows its first copy
    on = bbc.eval_settings(settings)
    assert on.corpus_dir == corpus and on.store_dir.parent == corpus.parent


def test_chart_axis_starts_under_the_lowest_value_shown():
    from evals.report import chart_floor

    assert chart_floor({"overall": {"correctness": 0.93, "mrr": 0.97}}) == pytest.approx(0.8)
    assert chart_floor({"overall": {"correctness": 0.21, "support": None}}) == pytest.approx(0.1)
    assert chart_floor({"overall": {"correctness": 0.05}}) == 0.0
