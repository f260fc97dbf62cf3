"""Does newsqa phone home? Runs `newsqa ingest` and `newsqa ask` with a fresh $HOME and
reports every file written under it and every network look-up or connect that is not
loopback. A Python audit hook in the child sees (and blocks, so the audit itself never
reaches the network) the sockets of Python code, Chroma's and Gradio's included; the disk
shows native telemetry such as onnxruntime's event queue under ~/.cache/Microsoft/.

    python -m evals.faults.no_phone_home [--corpus DIR]   (exit 1 when anything phoned home)

Allowed on disk: the store (in the work dir, outside $HOME) and nothing under $HOME.
strace, which would also see native sockets, does not run in every sandbox (here it
traces no system calls), so this audit reads the disk for those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data" / "articles"

# Runs in the child: records each non-loopback socket call and blocks it (so the audit
# itself never reaches the network), then runs the CLI.
_CHILD = r"""
import ipaddress, json, sys
calls = []
def _loopback(host):
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
def hook(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname"):
        host = args[0] if isinstance(args[0], str) else (args[0] or b"").decode()
        if not _loopback(host):
            calls.append([event, host])
            raise OSError(f"blocked by the audit: {event} {host}")
    elif event in ("socket.connect", "socket.sendto"):
        address = args[1] if event == "socket.connect" else args[-1]
        if isinstance(address, tuple) and not _loopback(address[0]):
            calls.append([event, str(address[0])])
            raise OSError(f"blocked by the audit: {event} {address[0]}")
sys.addaudithook(hook)
log, argv = sys.argv[1], sys.argv[2:]
sys.argv = ["newsqa", *argv]
try:
    from rag.cli import main
    main()
except SystemExit as stop:
    code = stop.code or 0
else:
    code = 0
finally:
    with open(log, "w") as handle:
        json.dump(calls, handle)
sys.exit(code)
"""


@dataclass
class Audit:
    files: list[str] = field(default_factory=list)  # written under $HOME
    calls: list[list[str]] = field(default_factory=list)  # non-loopback socket calls
    failed: list[str] = field(default_factory=list)  # commands that did not exit 0

    @property
    def clean(self) -> bool:
        return not (self.files or self.calls or self.failed)

    def summary(self) -> str:
        lines = [f"files written under a fresh $HOME: {len(self.files)}",
                 *(f"  {f}" for f in self.files),
                 f"non-loopback look-ups and connects: {len(self.calls)}",
                 *(f"  {event} {target}" for event, target in self.calls)]
        lines += [f"command failed: {c}" for c in self.failed]
        return "\n".join(lines)


def audit(corpus: Path = BUNDLED, workdir: Path | None = None,
          commands: tuple[tuple[str, ...], ...] = (("ingest",), ("ask", "Who is in charge?")),
          env: dict[str, str] | None = None) -> Audit:
    """Runs each `newsqa` command in a child with a fresh $HOME (and `env` on top)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(workdir or scratch)
        home = work / "home"
        home.mkdir(parents=True)
        child_env = {name: value for name, value in os.environ.items()
                     if not name.startswith(("NEWSQA_", "OPENAI_", "ORT_"))}
        child_env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
                      "NEWSQA_CORPUS_DIR": str(corpus), "NEWSQA_STORE_DIR": str(work / "store"),
                      "NEWSQA_CACHE_DIR": str(work / "cache"),
                      "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
                      } | (env or {})
        result = Audit()
        for number, command in enumerate(commands):
            log = work / f"calls-{number}.json"
            done = subprocess.run([sys.executable, "-c", _CHILD, str(log), *command],
                                  env=child_env, cwd=work, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                result.failed.append(f"newsqa {' '.join(command)}: {done.stderr.strip()[-500:]}")
            if log.exists():
                result.calls += json.loads(log.read_text())
        result.files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=BUNDLED)
    args = parser.parse_args(argv)
    result = audit(args.corpus)
    print(result.summary())
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
