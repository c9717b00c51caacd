"""The shared HTTP/1.1 core: parsing, keep-alive, streaming, abrupt closes, malformed input."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from harness._http import HttpServer, Request, Response


async def _handler(req: Request, resp: Response) -> None:
    if req.path == "/echo":
        body = b"%s %s %s %s|" % (
            req.method.encode(),
            req.path.encode(),
            repr(sorted(req.query.items())).encode(),
            (req.headers.get("X-Thing") or "-").encode(),
        )
        resp.send(200, [("content-type", "text/plain")], body + req.body)
    elif req.path == "/stream":
        resp.start(200, {"content-type": "text/event-stream"})
        for i in range(5):
            resp.write(b"data: %d\n\n" % i)
            await asyncio.sleep(0.01)
        resp.finish()
    elif req.path == "/cut":
        resp.start(200, {"content-type": "text/event-stream"})
        resp.write(b"data: 0\n\n")
        await asyncio.sleep(0.01)
        resp.abort(reset=req.query.get("rst") == "1")
    elif req.path == "/boom":
        raise RuntimeError("boom")
    else:
        resp.send(404, [], b"nope")


async def _with_server(fn):  # type: ignore[no-untyped-def]
    server = HttpServer(_handler, port=0)
    await server.start()
    try:
        return await asyncio.wait_for(fn(server.port), timeout=10)
    finally:
        await server.stop(grace_s=0.5)


def test_request_parsing_and_keep_alive() -> None:
    async def go(port: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            r = await c.post("/echo?b=2&a=1", content=b"hello", headers={"x-THING": "v"})
            assert r.status_code == 200
            assert r.text == "POST /echo [('a', '1'), ('b', '2')] v|hello"
            r2 = await c.get("/echo")
            assert r2.text.startswith("GET /echo [] -|")
            assert r.headers["connection"] == "keep-alive"
            r3 = await c.get("/missing")
            assert r3.status_code == 404

    asyncio.run(_with_server(go))


def test_streaming_chunks_arrive_separately() -> None:
    async def go(port: int) -> None:
        async with (
            httpx.AsyncClient() as c,
            c.stream("GET", f"http://127.0.0.1:{port}/stream") as r,
        ):
            assert r.headers["transfer-encoding"] == "chunked"
            pieces = [p async for p in r.aiter_raw()]
        assert b"".join(pieces) == b"".join(b"data: %d\n\n" % i for i in range(5))
        assert len(pieces) >= 4  # flushed one by one, not buffered into one write

    asyncio.run(_with_server(go))


@pytest.mark.parametrize("rst", [False, True])
def test_abort_mid_stream(rst: bool) -> None:
    async def go(port: int) -> None:
        async with httpx.AsyncClient() as c:
            with pytest.raises(httpx.HTTPError):
                async with c.stream("GET", f"http://127.0.0.1:{port}/cut?rst={int(rst)}") as r:
                    async for _ in r.aiter_raw():
                        pass

    asyncio.run(_with_server(go))


def test_handler_exception_is_500_and_malformed_is_400() -> None:
    async def go(port: int) -> None:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://127.0.0.1:{port}/boom")
            assert r.status_code == 500
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        assert data.startswith(b"HTTP/1.1 400 ")
        writer.close()

    asyncio.run(_with_server(go))


def test_port_zero_reports_real_port_and_nodelay() -> None:
    async def go(port: int) -> None:
        assert port > 0
        s = socket.create_connection(("127.0.0.1", port))
        s.close()

    asyncio.run(_with_server(go))


def test_split_body_connection_close_and_http10() -> None:
    async def go(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"world")
        writer.write(b"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)  # the server closes after the second answer
        assert data.count(b"HTTP/1.1 200 ") == 2
        assert b"|helloworld" in data and b"connection: close" in data
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.0\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        assert data.startswith(b"HTTP/1.1 200 ") and b"connection: close" in data
        writer.close()

    asyncio.run(_with_server(go))
