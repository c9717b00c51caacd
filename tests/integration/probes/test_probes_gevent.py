"""The probes run in the gevent-patched load process too: same verdicts, TLS handshake included."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import textwrap

import trustme
from probe_vendor import Behaviour, serve_vendor

KEY = "gevent-vendor-key-42"

SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, ssl, sys
sys.modules.setdefault("trio", None)  # as harness.load._runner does in the load process
from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import ProbeOptions, run_probes
port, tls_port, ca_pem = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cadata=ca_pem)
out = {}
with make_http_client(max_connections=4, verify=ctx) as client:
    for name, base, via in (("plain", f"http://127.0.0.1:{port}/v1", None),
                            ("tls", "https://vendor.test/v1", ("127.0.0.1", tls_port))):
        ep = Endpoint(name=name, dialect="openai-chat", model="m", base_url=base, api_key_env="K")
        t = Target(ep, base, via, KEY, Price())
        opts = ProbeOptions(overlong_tokens=6000, timeout_s=5)
        for r in run_probes({name: t}, client, options=opts, tls_context=ctx):
            out[f"{name}.{r.probe}"] = r.passed
print(json.dumps(out))
""".replace("KEY", repr(KEY))


def test_probes_under_gevent_monkey_patching() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("vendor.test").configure_cert(server_ctx)
    with (
        serve_vendor(Behaviour(key=KEY)) as port,
        serve_vendor(Behaviour(key=KEY), tls=server_ctx) as tls_port,
    ):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(SCRIPT),
                str(port),
                str(tls_port),
                ca.cert_pem.bytes().decode(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdicts["tls.tls"] is True and verdicts["plain.tls"] is None
    failed = {k for k, v in verdicts.items() if v is False}
    assert failed == set(), failed
