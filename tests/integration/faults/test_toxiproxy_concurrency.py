"""100 concurrent streams through the embedded Toxiproxy (its own process) while toxics churn.

No deadlock: every stream ends with every byte in order (only lossless toxics churn), and every API call
answers well within the client's timeout.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient

ROOT = Path(__file__).resolve().parents[3]
STREAMS = 100
CHUNKS = 50
CHUNK = 300
INTERVAL = 0.02


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.faults", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("toxiproxy-compatible API listening on "), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def expected(i: int) -> bytes:
    return b"".join(bytes([65 + (i + k) % 26]) * CHUNK for k in range(CHUNKS))


async def _upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = await reader.readline()
        i = int(line)
        for k in range(CHUNKS):
            writer.write(bytes([65 + (i + k) % 26]) * CHUNK)
            await writer.drain()
            await asyncio.sleep(INTERVAL)
    except (ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _stream(host: str, port: int, i: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"%d\n" % i)
        await writer.drain()
        return await reader.read(-1)
    finally:
        writer.close()


def _churn(api: ToxiproxyClient, name: str, stop: threading.Event, took: list[float]) -> None:
    steps = [
        lambda: api.add_toxic(name, "latency", {"latency": 30, "jitter": 20}, name="lat"),
        lambda: api.add_toxic(name, "bandwidth", {"rate": 100}, name="bw"),
        lambda: api.add_toxic(
            name, "slicer", {"average_size": 64, "size_variation": 16, "delay": 200}, name="sl"
        ),
        lambda: api.update_toxic(name, "lat", attributes={"latency": 5}),
        lambda: api.add_toxic(name, "latency", {"latency": 10}, stream="upstream", name="up"),
        lambda: api.remove_toxic(name, "bw"),
        lambda: api.update_toxic(name, "sl", toxicity=0.5),
        lambda: api.remove_toxic(name, "lat"),
        lambda: api.remove_toxic(name, "sl"),
        lambda: api.remove_toxic(name, "up"),
        lambda: api.add_toxic(name, "slow_close", {"delay": 10}, name="sc"),
        lambda: api.remove_toxic(name, "sc"),
    ]
    while not stop.is_set():
        for step in steps:
            t = time.perf_counter()
            step()
            took.append(time.perf_counter() - t)
            time.sleep(0.02)


def test_streams_survive_toxic_churn(api_url: str) -> None:
    took: list[float] = []
    stop = threading.Event()

    async def main() -> None:
        server = await asyncio.start_server(_upstream, "127.0.0.1", 0, backlog=512)
        up_port = server.sockets[0].getsockname()[1]
        with ToxiproxyClient(api_url, timeout=2.0) as api:
            p = api.create_proxy("churn", f"127.0.0.1:{up_port}")
            host, _, port = p["listen"].rpartition(":")
            churn = threading.Thread(target=_churn, args=(api, "churn", stop, took), daemon=True)
            churn.start()
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*(_stream(host, int(port), i) for i in range(STREAMS))), 30
                )
            finally:
                stop.set()
                churn.join(10)
            assert not churn.is_alive()
            bad = [i for i, data in enumerate(results) if data != expected(i)]
            assert bad == [], f"{len(bad)} streams damaged, e.g. #{bad[0]}: {len(results[bad[0]])} B"

            # Removing a timeout toxic closes the connections it held, all of them, promptly.
            held = [await asyncio.open_connection(host, int(port)) for _ in range(STREAMS)]
            api.add_toxic("churn", "timeout", {"timeout": 0})
            for _, w in held:
                w.write(b"0\n")
            await asyncio.sleep(0.2)
            t = time.perf_counter()
            api.remove_toxic("churn", "timeout_downstream")
            took.append(time.perf_counter() - t)
            got = await asyncio.wait_for(asyncio.gather(*(r.read(-1) for r, _ in held)), 5)
            assert all(g == b"" for g in got)
            for _, w in held:
                w.close()
            api.delete_proxy("churn")
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    print(f"{len(took)} API calls during the streams, slowest {max(took) * 1000:.1f} ms")
    assert len(took) >= 24  # the churn really ran through the streams (two rounds at least)
    assert max(took) < 0.5, f"slowest API call {max(took):.3f} s"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_disable_during_a_connection_storm_leaks_nothing() -> None:
    from harness.faults import ToxiproxyServer

    async def main() -> None:
        upstream = await asyncio.start_server(_upstream, "127.0.0.1", 0, backlog=512)
        server = ToxiproxyServer(port=0)
        await server.start()
        before = _open_fds()
        up_port = upstream.sockets[0].getsockname()[1]
        status, _, _ = await server.app.handle(
            "POST", "/proxies", {}, b'{"name": "storm", "upstream": "127.0.0.1:%d"}' % up_port
        )
        assert status == 201
        proxy = server.app.proxies.get("storm")
        host, _, port = proxy.listen.rpartition(":")

        async def client() -> None:
            try:
                r, w = await asyncio.open_connection(host, int(port))
            except OSError:
                return
            try:
                w.write(b"1\n")
                await asyncio.wait_for(r.read(-1), 3)
            except (TimeoutError, OSError):
                pass
            finally:
                w.close()

        for turns in (0, 3, 6, 8, 10, 12):  # disable at different points of the connections' setup
            clients = [asyncio.create_task(client()) for _ in range(100)]
            for _ in range(turns):
                await asyncio.sleep(0)
            await proxy.update(proxy.listen, proxy.upstream, False)
            await proxy.update(proxy.listen, proxy.upstream, True)
            await asyncio.gather(*clients)
        await server.app.handle("DELETE", "/proxies/storm", {}, b"")
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert proxy.connections == set()
        assert _open_fds() <= before, "sockets left open"
        await server.stop()
        upstream.close()
        await upstream.wait_closed()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(main())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == [], f"{len(unclosed)} unclosed, e.g. {unclosed[:1]}"
