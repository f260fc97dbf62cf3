"""Nothing phones home: a fresh $HOME stays empty and no socket reaches past loopback
(the audit script in evals/faults/, run on the bundled articles)."""

from __future__ import annotations

from conftest import BUNDLED

from evals.faults.no_phone_home import audit


def test_ingest_and_ask_write_nothing_under_home_and_reach_no_host(tmp_path):
    result = audit(BUNDLED, tmp_path, commands=(("ingest",), ("ask", "Who is Tom Barrack?")))
    assert not result.failed, result.failed
    # onnxruntime queued a telemetry event under ~/.cache/Microsoft/ before ORT_DISABLE_TELEMETRY
    assert result.files == [], result.summary()
    assert result.calls == [], result.summary()


def test_the_audit_sees_a_look_up_of_another_host(tmp_path):
    result = audit(BUNDLED, tmp_path, commands=(("stats",),),
                   env={"NEWSQA_CHROMA_HOST": "chroma.example.invalid"})
    assert ["socket.getaddrinfo", "chroma.example.invalid"] in result.calls
    assert result.failed  # and the command says it cannot reach the server
