"""A minimal HTTP/1.1 keep-alive client whose requests leave at once.

``httpx`` needs several turns of the event loop to put a request on the wire. The pool
emitter must hand a candidate to its node *before* it spends ~10 ms validating the same
candidate itself (the two validations then run in parallel on two cores), so it writes the
request bytes straight into the socket, synchronously, and reads the answer later. Only that
one internal call uses this; every other client is ``httpx``.

Every connection carries a timeout: opening it, and reading a whole answer (which also bounds
the write, since a node that takes no bytes sends no answer), each end within it or raise
:class:`RawTimeout`. A connection that failed or timed out is closed at once, never handed back
half-read, so the next request cannot read the previous one's late answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

SEND_BUFFER = 4 * 1024 * 1024
DEFAULT_TIMEOUT_S = 2.0


class RawHttpError(Exception):
    """A raw request failed: the connection broke, closed, timed out or answered garbage."""


class RawTimeout(RawHttpError):
    """The node did not open the connection or answer the request within the timeout."""


class RawResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


class RawConnection:
    """One keep-alive connection; one request in flight at a time."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.timeout = timeout
        self.busy = False

    @classmethod
    async def open(cls, base_url: str, timeout: float = DEFAULT_TIMEOUT_S) -> RawConnection:
        """Connect to ``base_url`` within ``timeout`` seconds (else :class:`RawTimeout`; other
        failures raise ``OSError``); ``timeout`` then bounds each answer read on it."""
        parts = urlsplit(base_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme != "http":
            raise ValueError("the raw client speaks plain HTTP to a local node only")
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=2**24)
        except TimeoutError:
            raise RawTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # TCP starts with a 16 KiB send buffer: a block would then go out only partly now
            # and the rest whenever the event loop next runs. With room for the whole request
            # the kernel takes it at once and keeps sending without us.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        return cls(reader, writer, f"{host}:{port}", timeout)

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        """Write the whole request now (no await): the kernel takes it immediately."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.busy = True
        self.writer.write(head + body)

    async def response(self) -> RawResponse:
        """The answer to the request sent, read within the connection's timeout.

        Raises :class:`RawTimeout` when it does not come in time and :class:`RawHttpError` when
        the connection breaks or the answer is malformed; either way (and when the waiting
        task is cancelled) the connection is closed, so it is never reused half-read.
        """
        try:
            async with asyncio.timeout(self.timeout):
                status_line = await self.reader.readline()
                if not status_line:
                    raise RawHttpError("connection closed")
                status = int(status_line.split()[1])
                length = 0
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await self.reader.readexactly(length)
        except TimeoutError:
            self.close()
            raise RawTimeout(f"no answer from {self.host} within {self.timeout} s") from None
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise RawHttpError(f"bad answer from {self.host}: {exc!r}") from None
        except BaseException:
            self.close()
            raise
        finally:
            self.busy = False
        return RawResponse(status, body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class RawPool:
    """A few warm connections to one node, re-opened in the background when used up."""

    def __init__(self, base_url: str, size: int = 2, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url
        self.size = size
        self.timeout = timeout
        self._idle: list[RawConnection] = []
        self._opening = 0

    async def fill(self) -> None:
        while len(self._idle) + self._opening < self.size:
            self._opening += 1
            try:
                self._idle.append(await RawConnection.open(self.base_url, self.timeout))
            except (OSError, RawTimeout):
                return
            finally:
                self._opening -= 1

    def take(self) -> RawConnection | None:
        """An idle connection, or ``None`` when none is warm right now."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.writer.is_closing():
                return conn
        return None

    def give_back(self, conn: RawConnection) -> None:
        if not conn.writer.is_closing() and len(self._idle) < self.size:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
