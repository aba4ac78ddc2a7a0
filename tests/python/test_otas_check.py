"""`manage.py otas_check` authenticates the key as the middleware will:
with the options of the Django setting, against a real otas-collector
serving HTTPS with a private CA."""

import subprocess

import pytest

from otas_testing.collector import Collector
from sdk_support import run_app


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


@pytest.fixture(scope="module")
def tls_collector(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=otas-check test CA", "-keyout", "ca.key", "-out",
            "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
            "server.ext", "-out", "server.pem", cwd=d)
    c = Collector(tmp_path_factory.mktemp("tls-collector"))
    c.start(extra_args=["--quiet", "--tls-cert", str(d / "server.pem"),
                        "--tls-key", str(d / "server.key")])
    yield c, d / "ca.pem"
    c.stop()


# `manage.py otas_check` in a Django process: its output or its error.
RUN_CHECK = """
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
out = io.StringIO()
try:
    call_command("otas_check", stdout=out)
    res = {"ok": out.getvalue()}
except CommandError as exc:
    res = {"error": str(exc)}
"""

CHECK = """
import io, json, os, django
import djproject.settings as s
s.OTAS = {"SDK_KEY": os.environ["KEY"], "BASE_URL": os.environ["URL"],
          "CA_BUNDLE": os.environ["CA"]}
""" + RUN_CHECK + """
print("RESULT " + json.dumps(res))
"""

def test_otas_check_uses_the_settings_ca_bundle(tls_collector):
    c, ca = tls_collector
    url = f"https://127.0.0.1:{c.port}"
    p, res = run_app({"KEY": c.key, "URL": url, "CA": str(ca)}, code=CHECK)
    assert res is not None, p.stderr[-3000:]
    assert "error" not in res, res
    assert "OTAS key accepted by " + url in res["ok"]
    assert c.key not in p.stdout + p.stderr


PLAIN_CHECK = """
import io, json, django
""" + RUN_CHECK + """
from otas import OtasClient
try:
    res["client"] = OtasClient().authenticate().project_id
except Exception as exc:
    res["client_error"] = str(exc)
print("RESULT " + json.dumps(res))
"""

def test_otas_check_reads_the_key_as_the_engine_does(collector, tmp_path):
    """A key with a trailing newline (a secret mounted from a file) works
    for the middleware, whose engine trims every value: otas_check and
    OtasClient() authenticate it too, rather than refuse it."""
    p, res = run_app({"OTAS_SDK_KEY": collector.key + "\n",
                      "OTAS_BASE_URL": " " + collector.url + " ",
                      "OTAS_SPOOL_DIR": str(tmp_path)}, code=PLAIN_CHECK)
    assert res is not None, p.stderr[-3000:]
    assert "error" not in res and "client_error" not in res, res
    assert "OTAS key accepted by " + collector.url in res["ok"]
    assert res["client"] == collector.project_id
