"""The scale-out path: one `chroma run`, two chat processes reading it, and a third process
ingesting into it. No request fails, and both readers answer from the change within seconds
(the generation is a record in Chroma itself, so every reader on any machine sees it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import ROOT
from test_store import chroma_process  # noqa: F401  (the fixture: a real `chroma run`)

READER = r"""
import json, sys, time
from pathlib import Path
from rag.ask import Engine
from rag.config import Settings
stop, marker = Path(sys.argv[1]), sys.argv[2]
engine = Engine(Settings())
served, failed, first_seen, began = 0, [], None, time.monotonic()
print("ready", flush=True)
while not stop.exists():
    try:
        engine.ask("Which militia groups did the US strike?")
        served += 1
        if first_seen is None and any(marker in h.chunk.text
                                      for h in engine.retrieve(marker, 3).hits):
            first_seen = time.time()
    except Exception as error:
        failed.append(f"{type(error).__name__}: {error}"[:200])
    time.sleep(0.05)
print(json.dumps({"served": served, "failed": failed, "first_seen": first_seen}), flush=True)
"""
MARKER = "Zanzibarite inspectors counted crates at the harbour"


def test_two_readers_and_a_writer_on_one_chroma_server(tmp_path, corpus, chroma_process):  # noqa: F811
    port, _ = chroma_process
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_"))}
    env |= {"NEWSQA_CORPUS_DIR": str(corpus), "NEWSQA_CHROMA_HOST": "127.0.0.1",
            "NEWSQA_CHROMA_PORT": str(port), "NEWSQA_EMBEDDER": "hash",
            "PYTHONPATH": str(ROOT)}

    def ingest() -> float:
        subprocess.run([sys.executable, "-m", "rag.cli", "ingest"], env=env, cwd=tmp_path,
                       check=True, capture_output=True)
        return time.time()

    ingest()
    stop = tmp_path / "stop"
    readers = [subprocess.Popen(
        [sys.executable, "-c", READER, str(stop), MARKER], cwd=tmp_path, text=True,
        env=env | {"NEWSQA_CACHE_DIR": str(tmp_path / f"cache-{n}")},  # a machine each
        stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(2)]
    try:
        for reader in readers:
            assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        time.sleep(1)
        edited = min(corpus.iterdir())
        edited.write_text(edited.read_text(encoding="utf-8") + f"\n\n{MARKER}.\n",
                          encoding="utf-8")
        done = ingest()
        time.sleep(4)
    finally:
        stop.touch()
    results = [json.loads(reader.communicate(timeout=60)[0].splitlines()[-1])
               for reader in readers]
    print(f"\nscale-out: {[r['served'] for r in results]} requests served, answers current "
          f"{[round(r['first_seen'] - done, 2) for r in results if r['first_seen']]} s "
          "after the ingest ended")
    for result in results:
        assert result["failed"] == [] and result["served"] > 5
        assert result["first_seen"] is not None and result["first_seen"] - done < 3.0
