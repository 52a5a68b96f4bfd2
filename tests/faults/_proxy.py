"""A TCP proxy on 127.0.0.1 (asyncio, in a thread of its own) between the workers and the
database, which can drop every connection going through it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import psycopg

PIPE_CHUNK = 65536


class DropProxy:
    """Forwards 127.0.0.1:``port`` to the server of ``conninfo`` (TCP or Unix socket);
    :meth:`drop_all` aborts every open connection, as a network failure would; :meth:`cut`
    also refuses new ones until :meth:`restore` (a network outage)."""

    def __init__(self, conninfo: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
        self._host = str(params.get("host") or "localhost")
        self._port = int(params.get("port") or 5432)
        self._conninfo = conninfo
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0
        self.refusing = False

    def __enter__(self) -> DropProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def url(self, **extra: Any) -> str:
        """``conninfo`` pointed at the proxy."""
        return psycopg.conninfo.make_conninfo(
            self._conninfo, host="127.0.0.1", port=self.port, **extra
        )

    def drop_all(self) -> int:
        """Abort every connection through the proxy; the number aborted."""

        async def drop() -> int:
            writers = list(self._writers)
            self._writers.clear()
            for w in writers:
                w.transport.abort()
            return len(writers)

        return int(self._call(drop()))

    def cut(self) -> int:
        """Refuse every new connection and abort the open ones."""
        self.refusing = True
        return self.drop_all()

    def restore(self) -> None:
        self.refusing = False

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self._host}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._host, self._port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(PIPE_CHUNK):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))
