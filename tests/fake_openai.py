"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions protocol (JSON and
SSE streaming), scripted per test: each request pops the next `Reply` (or calls a function
of the request body that returns one)."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    headers: dict | None = None
    stall_after: int | None = None  # stream this many pieces, then send nothing for 30 s
    die_after: int | None = None  # stream this many pieces, then reset the connection


Script = Reply | Callable[[dict], Reply]


class FakeOpenAI:
    """`with FakeOpenAI() as fake: fake.script = [...]; url = fake.base_url`."""

    def __init__(self) -> None:
        self.script: list[Script] = []
        self.default: Script = Reply("The articles don't say.")
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def next_reply(self, body: dict) -> Reply:
        self.requests.append(body)
        step = self.script.pop(0) if self.script else self.default
        return step(body) if callable(step) else step

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def passage_number(body: dict, needle: str) -> int:
    """The [n] of the first passage in the request's prompt that contains `needle`."""
    prompt = body["messages"][-1]["content"]
    for match in re.finditer(r"^\[(\d+)\] Title:.*?\n<<<PASSAGE(-\w+)?\n(.*?)\nPASSAGE\2>>>",
                             prompt, re.DOTALL | re.MULTILINE):
        if needle in match.group(3):
            return int(match.group(1))
    raise AssertionError(f"no passage with {needle!r} in the prompt")


def _handler(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = fake.next_reply(body)
            time.sleep(reply.delay)
            if reply.status != 200:
                return self._error(reply)
            if body.get("stream"):
                return self._stream(body, reply)
            self._json(200, _completion(body, reply.text))

        def _error(self, reply: Reply) -> None:
            kinds = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
            error = {"message": reply.text or f"fake error {reply.status}", "type": "error",
                     "code": kinds.get(reply.status, "server_error")}
            self._json(reply.status, {"error": error}, reply.headers)

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            pieces = re.findall(r"\S+\s*", reply.text) or [""]
            for number, piece in enumerate(pieces):
                if number == reply.stall_after:
                    time.sleep(30)
                if number == reply.die_after:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))  # close sends RST
                    self.connection.close()
                    return
                self._event(_chunk(body, {"role": "assistant", "content": piece}, None))
            self._event(_chunk(body, {}, "stop"))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, payload: dict) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(body: dict, delta: dict, finish: str | None) -> dict:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
