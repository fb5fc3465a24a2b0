"""How much of one HTTP/1 request has arrived: what the web's worker reads before a thread
may serve it (webhooks.serving). It only frames the request; gunicorn's parser judges it."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Verdict(Enum):
    WAIT = "wait for more"
    CONTINUE = "send 100 Continue, then wait for the body"
    READY = "the whole request is in"
    # The headers are in, the body is not to be waited for: over the limit (the app answers
    # 413 without reading it) or framed oddly (gunicorn answers 400). Closed after.
    HEAD_ONLY = "serve the headers"
    HEAD_TOO_LARGE = "431 Request Header Fields Too Large"
    # Chunked bodies have no length to wait for; Svix and browsers send Content-Length.
    LENGTH_REQUIRED = "411 Length Required"


def _max_head(cfg: Any) -> int:
    """The longest head gunicorn's own limits let through (8 KiB lines where unlimited)."""
    line = cfg.limit_request_line or 8190
    field = cfg.limit_request_field_size or 8190
    return int(line + 2 + cfg.limit_request_fields * (field + 2) + 2)


class Gate:
    """The bytes of one request as they arrive, and whether it is complete."""

    def __init__(self, held: bytes, deadline: float, max_body: int, cfg: Any) -> None:
        self.buf = bytearray(held)
        self.deadline = deadline
        self.max_body = max_body
        self.max_head = _max_head(cfg)
        self.expects = self.continued = False
        self.body_start: int | None = None
        self.length = 0

    @property
    def started(self) -> bool:
        return bool(self.buf)

    def feed(self, data: bytes) -> None:
        self.buf += data

    def request(self) -> bytes:
        return bytes(self.buf)

    def verdict(self) -> Verdict:
        if self.body_start is None:
            head = self._head()
            if head is not None:
                return head
        if len(self.buf) >= (self.body_start or 0) + self.length:
            return Verdict.READY
        if self.expects and not self.continued:
            self.continued = True
            return Verdict.CONTINUE
        return Verdict.WAIT

    def _head(self) -> Verdict | None:
        """Read the head once it is in; a verdict when it decides, None to go on."""
        # A client may send empty lines before a request (RFC 9112, 2.2).
        del self.buf[: len(self.buf) - len(self.buf.lstrip(b"\r\n"))]
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or end > self.max_head:
            too_large = end > self.max_head or len(self.buf) > self.max_head
            return Verdict.HEAD_TOO_LARGE if too_large else Verdict.WAIT
        lines = bytes(self.buf[:end]).split(b"\r\n")
        fields = [line.partition(b":") for line in lines[1:]]
        names = [name.strip().lower() for name, _, _ in fields]
        values = [value.strip() for _, _, value in fields]
        if b"transfer-encoding" in names:
            return Verdict.LENGTH_REQUIRED
        lengths = {v for n, v in zip(names, values, strict=True) if n == b"content-length"}
        if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
            return self._head_only(lines)
        self.length = int(lengths.pop()) if lengths else 0
        if self.length > self.max_body:
            return self._head_only(lines)
        expect = [
            i
            for i, (n, v) in enumerate(zip(names, values, strict=True))
            if n == b"expect" and v.lower() == b"100-continue"
        ]
        if expect:
            # The gate answers the expectation itself; gunicorn must not answer it again.
            kept = [line for i, line in enumerate(lines) if i - 1 not in expect]
            self.buf[:end] = b"\r\n".join(kept)
            end = self.buf.find(b"\r\n\r\n")
            self.expects = True
        self.body_start = end + 4
        return None

    def _head_only(self, lines: list[bytes]) -> Verdict:
        """Serve the head alone, and close after: where the next request starts is unknown.
        Its first Connection field decides for gunicorn, so close goes first."""
        self.buf[: len(lines[0])] = lines[0] + b"\r\nConnection: close"
        return Verdict.HEAD_ONLY
