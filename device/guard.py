"""Slow-client protection for the aiohttp server, which has no header-read timeout of its own.

Each connection must finish its request headers within `header_timeout`; at `max_connections`, the oldest
connection still sending headers is dropped to make room, so trickling clients cannot lock others out.
"""
from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from typing import Callable


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one (a Pi's default soft limit is 1024); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


class ConnectionGuard:
    """A protocol factory wrapping aiohttp's (`AppRunner.server`): pass it to `loop.create_server`."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], header_timeout: float, max_connections: int):
        self.factory, self.header_timeout, self.max_connections = factory, header_timeout, max_connections
        self.open = 0
        self.waiting: OrderedDict[_Guarded, None] = OrderedDict()  # connections whose headers are incomplete

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self.factory(), self)


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's handler behind a deadline for the end of the first request's headers."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard):
        self.inner, self.guard = inner, guard
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tail = b""  # the last bytes seen, to find a header end split between two reads

    def connection_made(self, transport: asyncio.Transport) -> None:
        guard = self.guard
        if guard.open >= guard.max_connections and guard.waiting:
            next(iter(guard.waiting)).transport.close()
        guard.open += 1
        self.transport = transport
        guard.waiting[self] = None
        self.timer = asyncio.get_running_loop().call_later(guard.header_timeout, transport.close)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.timer is not None:
            seen = self.tail + data
            if b"\r\n\r\n" in seen:
                self._headers_done()
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def _headers_done(self) -> None:
        self.timer.cancel()
        self.timer = None
        self.guard.waiting.pop(self, None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self._headers_done()
        self.guard.open -= 1
        self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
