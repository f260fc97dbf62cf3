"""Response headers for every page and file the chat serves: the browser may fetch nothing
from another origin (no image, script, style, font or connection), sends no Referer, and
runs the page in no frame of another site. Gradio takes no headers of its own, so this is a
plain ASGI middleware, passed to its FastAPI app at launch.
"""

from __future__ import annotations

# Gradio's page needs inline scripts and styles (its config and themes are inline), eval
# (gr.HTML renders its templates with it: "Error rendering" without), and data:/blob: URLs
# for its own icons and uploads. Everything else is same-origin only.
DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
)
CONTENT_SECURITY_POLICY = "; ".join(DIRECTIVES)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


class SecurityHeaders:
    """Adds HEADERS to every HTTP response (replacing any of the same name)."""

    def __init__(self, app) -> None:
        self.app = app
        self.raw = [(name.encode(), value.encode()) for name, value in HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.raw}
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message = {**message, "headers": kept + self.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def middleware() -> list:
    """The middleware list for gradio's `launch(app_kwargs={"middleware": ...})`."""
    from starlette.middleware import Middleware

    return [Middleware(SecurityHeaders)]
