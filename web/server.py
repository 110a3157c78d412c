"""kb serve's HTTP server: waitress, with limits that hold on a shared network.

waitress alone lets 100 half-open connections (its connection limit) lock every user out for up to
120 s (its idle timeout), and reads a request body of up to 1 GB. Here:
- one client address may hold at most KB_CONNECTIONS_PER_CLIENT connections (a browser opens six),
  so one machine cannot take the whole KB_MAX_CONNECTIONS;
- a request must arrive whole (headers and body) within KB_REQUEST_TIMEOUT seconds of its first
  byte, however slowly it trickles in, and a connection idle for KB_IDLE_TIMEOUT is closed;
- a body over KB_MAX_BODY_KB is refused (413) from its Content-Length, before any of it is read.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from kb.settings import Settings

THREADS = 4  # requests answered at once; a search holds the CPU for tens of milliseconds
HEADER_LIMIT = 32 * 1024  # a request's headers; the longest URL kb makes is a few kB

log = logging.getLogger("kb.web")


class _Channel(HTTPChannel):
    """A connection that remembers when the request it is reading began."""

    reading_since: float | None = None

    def received(self, data: bytes) -> bool:
        if data and self.request is None and self.reading_since is None:
            self.reading_since = time.monotonic()
        try:
            return super().received(data)
        finally:
            if self.request is None:  # nothing half-read: the next request starts its own clock
                self.reading_since = None


class _Server(TcpWSGIServer):
    """waitress's server, with a cap on connections per client address and a deadline for each
    request to arrive."""

    channel_class = _Channel

    def __init__(self, *args: Any, per_client: int, request_timeout: float, **kwargs: Any):
        self.per_client, self.request_timeout = per_client, request_timeout
        self._warned: dict[str, float] = {}
        super().__init__(*args, **kwargs)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return  # the client went before it was accepted, as waitress itself allows
        client = addr[0] if isinstance(addr, tuple) else str(addr)
        held = sum(1 for channel in self.active_channels.values() if _client(channel) == client)
        if held >= self.per_client:
            conn.close()
            self._warn(client)
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # connections idle past KB_IDLE_TIMEOUT
        cutoff = time.monotonic() - self.request_timeout
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True  # a request trickling in: a slow-loris

    def _warn(self, client: str) -> None:
        """One line a minute per client refused, so a flood does not flood the log too."""
        now = time.monotonic()
        if now - self._warned.get(client, -60.0) >= 60:
            self._warned[client] = now
            log.warning(
                "refused connections from %s: it holds %d already (KB_CONNECTIONS_PER_CLIENT)",
                client,
                self.per_client,
            )


def _client(channel: HTTPChannel) -> str:
    addr = getattr(channel, "addr", None)
    return addr[0] if isinstance(addr, tuple) else str(addr)


def make_server(app: Any, settings: Settings) -> _Server | MultiSocketServer:
    """A waitress server for app on settings.host and settings.port, with the limits above."""
    adjustments = Adjustments(
        host=settings.host,
        port=settings.port,
        threads=THREADS,
        connection_limit=settings.max_connections,
        channel_timeout=settings.idle_timeout,
        cleanup_interval=1,  # how often the deadlines are checked, in seconds
        max_request_body_size=settings.max_body_kb * 1024,
        max_request_header_size=HEADER_LIMIT,
        asyncore_use_poll=True,  # select() fails on a descriptor numbered over 1024
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adjustments.threads)
    sockets: dict[int, Any] = {}
    servers = [
        _Server(
            app,
            sockets,
            dispatcher=dispatcher,
            adj=adjustments,
            sockinfo=sockinfo,
            per_client=settings.connections_per_client,
            request_timeout=settings.request_timeout,
        )
        for sockinfo in adjustments.listen
    ]
    if len(servers) == 1:
        return servers[0]
    listening = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(sockets, adjustments, listening, dispatcher, servers[-1].log_info)
