"""Shared fixtures. Every test runs offline: sockets may only reach loopback addresses."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "data" / "articles"


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise OSError(f"test tried to reach {address!r}: tests may only use 127.0.0.1")
        return real(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    socket.socket.connect = _guarded(_real_connect)
    socket.socket.connect_ex = _guarded(_real_connect_ex)
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """No setting leaks in from the developer's shell or .env."""
    for name in list(os.environ):
        if name.startswith(("NEWSQA_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # so a stray .env in the repo is not read
    from rag.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A private copy of the bundled articles that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(BUNDLED, target)
    return target


def make_settings(tmp_path: Path, **overrides):
    from rag.config import Settings

    values = {"corpus_dir": BUNDLED, "store_dir": tmp_path / "store"} | overrides
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path):
    """Settings over the bundled corpus with a store in a temp dir (nothing ingested yet)."""
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory):
    """Settings whose store holds the bundled corpus, ingested once per test session."""
    from index.ingest import ingest

    settings = make_settings(tmp_path_factory.mktemp("bundled"))
    ingest(settings, progress=False)
    return settings


def pytest_terminal_summary(terminalreporter):
    """One line saying whether the BBC suite gate ran: a skip there is not a pass."""
    try:
        from test_suite_gates import BBC_STATUS
    except ImportError:
        return
    status = BBC_STATUS.get("bbc-test")
    if status is not None:
        terminalreporter.write_line(f"BBC suite gate (bbc-test): {status}")
