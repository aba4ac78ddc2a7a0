"""HTTPS from the collector itself: serve --tls-cert FILE --tls-key FILE.

A throwaway CA and a server certificate for 127.0.0.1 are made with the
openssl command line into the test's tmp directory; a second CA signs a
certificate the clients must refuse.  The SDK (the real engine, in a fresh
Python process) authenticates and delivers over https when pointed at the
CA with OTAS_CA_BUNDLE, and refuses a certificate from another CA.
"""
import http.client
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from otas_testing.collector import LOG_PATH, make_event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from sdk_support import run_app  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name} test CA", "-keyout", f"{name}-ca.key",
            "-out", f"{name}-ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_server_cert(d: Path, ca: str, name: str) -> None:
    (d / f"{name}.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}-ca.pem",
            "-CAkey", f"{ca}-ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "good")
    make_ca(d, "other")
    make_server_cert(d, "good", "server")
    make_server_cert(d, "other", "impostor")
    return d


@pytest.fixture
def tls_collector(make_collector, pki):
    return make_collector(["--tls-cert", str(pki / "server.pem"),
                           "--tls-key", str(pki / "server.key")])


def https(c, cafile, method="GET", path="/healthz", body=None, headers=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", c.port, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_python_client_verifies_and_uses_https(tls_collector, pki):
    c = tls_collector
    assert https(c, pki / "good-ca.pem") == (200, b'{"status":"ok"}')
    ev = json.dumps(make_event(1, event_id="over-tls")).encode()
    st, _ = https(c, pki / "good-ca.pem", "POST", LOG_PATH, ev,
                  {"Content-Type": "application/json", "X-OTAS-SDK-KEY": c.key})
    assert st == 201
    st, body = https(c, pki / "good-ca.pem", path="/api/v1/events/over-tls",
                     headers={"X-OTAS-SDK-KEY": c.read_key})
    assert st == 200 and json.loads(body)["event_id"] == "over-tls"


def test_python_client_refuses_another_ca(tls_collector, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        https(tls_collector, pki / "other-ca.pem")


def test_no_plain_http_on_a_tls_port(tls_collector):
    conn = http.client.HTTPConnection("127.0.0.1", tls_collector.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        status = None
    finally:
        conn.close()
    assert status != 200  # never served in clear


def test_impostor_certificate_refused_by_good_ca(make_collector, pki):
    c = make_collector(["--tls-cert", str(pki / "impostor.pem"),
                        "--tls-key", str(pki / "impostor.key")])
    with pytest.raises(ssl.SSLCertVerificationError):
        https(c, pki / "good-ca.pem")
    assert https(c, pki / "other-ca.pem")[0] == 200


def serve_fails(collector, *args):
    c = collector
    p = subprocess.run([c.binary, "serve", "--db", str(c.db_path), "--listen",
                        "127.0.0.1:0", "--quiet", *args], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0 and "listening" not in p.stdout
    return p.stderr


@pytest.mark.parametrize("case", ["missing-cert", "missing-key", "not-pem",
                                  "mismatch", "cert-only"])
def test_bad_certificate_is_a_startup_error_naming_the_option(collector, pki, tmp_path,
                                                             case):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    args = {
        "missing-cert": ["--tls-cert", str(tmp_path / "nope.pem"),
                         "--tls-key", str(pki / "server.key")],
        "missing-key": ["--tls-cert", str(pki / "server.pem"),
                        "--tls-key", str(tmp_path / "nope.key")],
        "not-pem": ["--tls-cert", str(junk), "--tls-key", str(pki / "server.key")],
        "mismatch": ["--tls-cert", str(pki / "server.pem"),
                     "--tls-key", str(pki / "impostor.key")],
        "cert-only": ["--tls-cert", str(pki / "server.pem")],
    }[case]
    collector.stop()
    err = serve_fails(collector, *args)
    want = {"missing-cert": "--tls-cert", "missing-key": "--tls-key",
            "not-pem": "--tls-cert", "mismatch": "--tls-key",
            "cert-only": "--tls-key"}[case]
    assert want in err, err
    # the key file's content never appears in an error
    assert "PRIVATE KEY" not in err


SDK_APP = """
import json, django
django.setup()
from django.test import Client
import otas
out = {}
try:
    r = Client().get("/api/items/7")
    out["status"] = r.status_code
    out["flushed"] = otas.flush(timeout=5)
    out["stats"] = otas.stats()
except Exception as exc:
    out = {"exc": type(exc).__name__, "msg": str(exc)}
print("RESULT " + json.dumps(out))
"""


def sdk_env(c, cafile, spool):
    return {"OTAS_SDK_KEY": c.key, "OTAS_BASE_URL": f"https://127.0.0.1:{c.port}",
            "OTAS_CA_BUNDLE": str(cafile), "OTAS_SPOOL_DIR": str(spool),
            "OTAS_STRICT_STARTUP": "1", "OTAS_FLUSH_INTERVAL_MS": "50",
            "OTAS_SHUTDOWN_TIMEOUT": "2"}


def test_sdk_delivers_over_https_to_the_right_ca(tls_collector, pki, tmp_path):
    c = tls_collector
    p, res = run_app(sdk_env(c, pki / "good-ca.pem", tmp_path), code=SDK_APP)
    assert res and res.get("status") == 200, (p.stderr, res)
    assert res["flushed"] is True
    # events are committed before the 2xx the SDK waited for
    st, body = https(c, pki / "good-ca.pem", path="/api/v1/events",
                     headers={"X-OTAS-SDK-KEY": c.read_key})
    assert st == 200
    assert [e["path"] for e in json.loads(body)["events"]] == ["/api/items/7"]
    assert c.key not in p.stdout + p.stderr


def test_sdk_refuses_a_certificate_from_another_ca(tls_collector, pki, tmp_path):
    c = tls_collector
    p, res = run_app(sdk_env(c, pki / "other-ca.pem", tmp_path), code=SDK_APP)
    # strict start-up: the authentication call over TLS must fail
    assert res and res.get("exc") == "OtasConnectionError", (p.stderr, res)
    st, body = https(c, pki / "good-ca.pem", path="/api/v1/events",
                     headers={"X-OTAS-SDK-KEY": c.read_key})
    assert st == 200 and json.loads(body)["events"] == []
    assert c.key not in p.stdout + p.stderr
