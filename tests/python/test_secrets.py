"""The secrets suite (issue 16): a unique secret planted in every place a
request can carry one -- headers in every spelling, query, form, multipart,
JSON at depth, gzip bodies, URLs in headers, outgoing URLs with userinfo,
exception text, the agent token -- through Django, WSGI (Flask), ASGI
(FastAPI) and outgoing calls (requests, httpx), then every byte that leaves
the process is searched: the collector's database and WAL, the spool files,
the `otas` log at DEBUG, the app's output and `otas.stats()`.

Two processes plant the same kinds of secrets (each its own values): the
first while the collector is down (everything goes through the spool), the
second while it is up (it also delivers the first one's spool).  Each secret
names its place, so a failure says which path leaked.  Values that are not
secret (KEEP-...) must arrive, so that a search of bytes cannot pass by
finding nothing at all.
"""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from otas_testing.collector import Collector
from sdk_support import free_port, run_app, wait_for

PLACES = [
    # headers, in every spelling the adapters see
    "h_auth", "h_cookie", "h_xapikey", "h_xauthtoken", "h_proxy", "h_under",
    "h_meta", "h_dash",
    # URLs inside headers
    "ref_userinfo", "ref_query", "loc_query", "origin_userinfo",
    # query
    "q_token", "q_apikey", "q_bracket", "q_sessionid", "q_sig",
    # form
    "f_password", "f_csrf", "f_bracket", "f_plus", "f_nul",
    # multipart (a field and the file's bytes)
    "m_password", "m_file",
    # JSON at depth, declared and undeclared
    "j_password", "j_apikey", "j_client_secret", "j_refresh", "j_auth",
    "j_text_password", "j_text_token", "j_gzip_password",
    # exception text
    "e_report_userinfo", "e_report_query", "e_boom_query",
    # outgoing calls
    "o_req_userinfo", "o_req_query", "o_httpx_userinfo", "o_httpx_query",
    "o_dead_token", "o_dead_secret", "o_resp_location", "o_resp_body",
    # WSGI and ASGI adapters
    "w_auth", "w_query", "w_json", "w_under", "a_auth", "a_under", "a_json",
    "a_query",
]

# events one run of APP captures: 16, plus the FastAPI TestClient's own
# httpx call (CAPTURE_OUTGOING=1 captures calls outside requests too)
PER_RUN = 17
DJANGO_PER_RUN = 11   # of which carry the agent token

APP = r"""
import gzip, io, json, logging, os, sys
S = json.loads(os.environ["SECRETS_JSON"])
THIRD, DEAD = os.environ["THIRD"], os.environ["DEAD"]
import django
django.setup()
import otas
log = logging.getLogger("otas")
log.addHandler(logging.FileHandler(os.environ["LOG_FILE"]))
log.setLevel(logging.DEBUG)
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
c = Client(raise_request_exception=False)
AG = {"HTTP_X_OTAS_AGENT_SESSION_TOKEN": os.environ["AGENT_TOKEN"]}
out = {}

# Django: headers in every spelling, URLs in headers
c.get("/api/items/1", HTTP_AUTHORIZATION="Bearer " + S["h_auth"],
      HTTP_COOKIE="sessionid=" + S["h_cookie"], HTTP_X_API_KEY=S["h_xapikey"],
      HTTP_X_AUTH_TOKEN=S["h_xauthtoken"], HTTP_PROXY_AUTHORIZATION="Basic " + S["h_proxy"],
      HTTP_X_UNDER_PRIV=S["h_under"], HTTP_X_META_PRIV=S["h_meta"],
      HTTP_X_DASH_PRIV=S["h_dash"], HTTP_X_KEEP="KEEP-HEADER",
      HTTP_REFERER="https://u:" + S["ref_userinfo"] + "@app.example/p?token="
                   + S["ref_query"] + "&x=KEEP-REF",
      HTTP_ORIGIN="https://o:" + S["origin_userinfo"] + "@app.example", **AG)
c.get("/api/redirect", HTTP_X_NEXT="/cb?code=KEEP-LOC&access_token=" + S["loc_query"], **AG)
c.post("/api/items", json.dumps({"name": "KEEP-SETCOOKIE"}), content_type="application/json", **AG)
# query
c.get("/api/items/2?token=" + S["q_token"] + "&api_key=" + S["q_apikey"]
      + "&user%5Bpassword%5D=" + S["q_bracket"] + "&sessionid=" + S["q_sessionid"]
      + "&X-Amz-Signature=" + S["q_sig"] + "&page=KEEP-QUERY", **AG)
# form
c.post("/api/account?kind=form", "name=KEEP-FORM&password=" + S["f_password"]
       + "&csrfmiddlewaretoken=" + S["f_csrf"] + "&user%5Bpassword%5D=" + S["f_bracket"]
       + "&+password=" + S["f_plus"] + "&password%00=" + S["f_nul"],
       content_type="application/x-www-form-urlencoded", **AG)
# multipart: the view reads it itself
c.post("/api/upload", {"file": SimpleUploadedFile("a.txt", ("KEEP " + S["m_file"]).encode()),
                       "password": S["m_password"]}, **AG)
# JSON at depth: declared, undeclared (text/plain) and gzip
doc = {"name": "KEEP-JSON", "data": {"items": [{"user": {
    "password": S["j_password"], "apiKey": S["j_apikey"],
    "client_secret": S["j_client_secret"], "refresh_token": S["j_refresh"],
    "auth": {"basic": S["j_auth"]}}}]}}
c.post("/api/items", json.dumps(doc), content_type="application/json", **AG)
c.post("/api/echo", json.dumps({"a": [{"b": {"Password": S["j_text_password"],
                                             "x-token": S["j_text_token"]}}], "k": "KEEP-TEXT"}),
       content_type="text/plain", **AG)
c.post("/api/read-stream", gzip.compress(json.dumps(
           {"deep": {"password": S["j_gzip_password"]}, "k": "KEEP-GZIP"}).encode()),
       content_type="application/json", HTTP_CONTENT_ENCODING="gzip", **AG)
# exception text: a reported error and an unhandled one
c.get("/api/boom-url", HTTP_X_REPORT_URL="http://me:" + S["e_report_userinfo"]
      + "@h.example/r?api_key=" + S["e_report_query"] + "&k=KEEP-ERR",
      HTTP_X_BOOM_URL="http://h.example/b?token=" + S["e_boom_query"], **AG)

# outgoing calls from a view
r = c.get("/api/outgoing-urls",
          HTTP_X_CALL_REQUESTS=THIRD.replace("://", "://bob:" + S["o_req_userinfo"] + "@")
          + "/o?api_key=" + S["o_req_query"] + "&x=KEEP-OUT",
          HTTP_X_CALL_HTTPX=THIRD.replace("://", "://carol:" + S["o_httpx_userinfo"] + "@")
          + "/h?access_token=" + S["o_httpx_query"],
          HTTP_X_CALL_DEAD=DEAD + "/d?token=" + S["o_dead_token"] + "&client_secret="
          + S["o_dead_secret"], **AG)
out["dead_error"] = r.json().get("dead")

# WSGI (Flask)
from apps.flask_app import app as flask_app
fc = flask_app.test_client()
fr = fc.post("/api/items?token=" + S["w_query"], json={"n": {"password": S["w_json"]}, "k": "KEEP-WSGI"},
             headers={"Authorization": "Bearer " + S["w_auth"], "X-Under-Priv": S["w_under"]})
fr.get_data()  # captured when the body is consumed
# ASGI (FastAPI): a header name written with underscores
from fastapi.testclient import TestClient
from apps.fastapi_app import app as fastapi_app
with TestClient(fastapi_app, raise_server_exceptions=False) as ac:
    ac.post("/api/items?api_key=" + S["a_query"], json={"deep": [{"secret": S["a_json"]}], "k": "KEEP-ASGI"},
            headers=[("authorization", "Bearer " + S["a_auth"]), ("x_internal_priv", S["a_under"])])

out["flushed"] = otas.flush(float(os.environ.get("FLUSH", "10")))
out["stats"] = otas.stats()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture
def third_party():
    """The service the app calls: answers with secrets of its own in a
    Location header and a JSON body (redacted by default names)."""
    secrets = {}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            data = json.dumps({"access_token": secrets["o_resp_body"],
                               "k": "KEEP-THIRD"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Location", "/cb?access_token=" + secrets["o_resp_location"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", secrets
    server.shutdown()
    server.server_close()


def make_secrets(tag):
    return {p: f"SEC{tag}{p.replace('_', '')}{uuid.uuid4().hex[:10]}" for p in PLACES}


def files_bytes(path):
    """The bytes of a SQLite file and its -wal, -shm and -journal."""
    path = Path(path)
    return b"".join(f.read_bytes() for f in sorted(path.parent.glob(path.name + "*")))


def leaks(blob, secrets, where):
    if isinstance(blob, str):
        blob = blob.encode()
    return [f"{place} in {where}" for place, s in secrets.items() if s.encode() in blob]


def test_no_planted_secret_leaves_the_process(tmp_path, third_party):
    third_url, third_secrets = third_party
    coll = Collector(tmp_path / "collector")
    coll.start()
    agent = coll.agent_session("secrets-bot")
    minted_db = files_bytes(coll.db_path)
    spool = tmp_path / "spool"
    base_env = {"OTAS_SDK_KEY": coll.key, "OTAS_BASE_URL": coll.url,
                "OTAS_SPOOL_DIR": str(spool), "OTAS_DEBUG": "1",
                "OTAS_CAPTURE_OUTGOING": "1", "OTAS_SHUTDOWN_TIMEOUT": "0.5",
                "OTAS_FLUSH_INTERVAL_MS": "50", "OTAS_SEND_WITHOUT_AGENT_TOKEN": "1",
                # item 3: names as META names, with underscores, with dashes
                "OTAS_SENSITIVE_HEADERS": "x_under_priv,HTTP_X_META_PRIV,X-Dash-Priv,x-internal-priv",
                "AGENT_TOKEN": agent, "THIRD": third_url,
                "DEAD": f"http://127.0.0.1:{free_port()}"}
    found = []
    a, b = make_secrets("A"), make_secrets("B")
    try:
        # 1. Collector down: every event goes to the spool.
        coll.kill()
        third_secrets.update(o_resp_body=a["o_resp_body"], o_resp_location=a["o_resp_location"])
        log_a = tmp_path / "otas-a.log"
        p, res = run_app(dict(base_env, SECRETS_JSON=json.dumps(a), LOG_FILE=str(log_a),
                              FLUSH="3"), code=APP, timeout=120)
        assert res is not None, p.stderr[-3000:]
        assert res["dead_error"] == "ConnectionError"
        spool_files = list(spool.glob("*.sqlite"))
        assert spool_files, "nothing spooled"
        spooled = b"".join(files_bytes(f) for f in spool_files)
        assert b"KEEP-QUERY" in spooled and b"KEEP-JSON" in spooled
        found += leaks(spooled, a, "spool")
        if agent.encode() in spooled:
            found.append("agent token in the spool")
        found += leaks(log_a.read_text(), a, "otas log (spool run)")
        found += leaks(p.stdout, a, "stdout/stats (spool run)")
        assert res["stats"]["spooled"] == PER_RUN, res["stats"]
        logged = log_a.read_text()
        assert "/api/items" in logged  # the DEBUG lines were written

        # 2. Collector up: a second process delivers the spool and its own.
        coll.restart()
        third_secrets.update(o_resp_body=b["o_resp_body"], o_resp_location=b["o_resp_location"])
        log_b = tmp_path / "otas-b.log"
        p, res = run_app(dict(base_env, SECRETS_JSON=json.dumps(b), LOG_FILE=str(log_b)),
                         code=APP, timeout=120)
        assert res is not None, p.stderr[-3000:]
        found += leaks(log_b.read_text(), b, "otas log")
        found += leaks(p.stdout, b, "stdout/stats")
        evs = wait_for(lambda: (lambda evs: evs if len(evs) >= 2 * PER_RUN else None)(
            coll.events()), timeout=30, what="the events of both runs")
        blob = files_bytes(coll.db_path)
    finally:
        coll.stop()
    both = dict({k + "(A)": v for k, v in a.items()}, **{k + "(B)": v for k, v in b.items()})
    api = json.dumps(evs)
    for keep in ("KEEP-HEADER", "KEEP-REF", "KEEP-LOC", "KEEP-QUERY", "KEEP-FORM",
                 "KEEP-JSON", "KEEP-TEXT", "KEEP-GZIP", "KEEP-ERR", "KEEP-OUT",
                 "KEEP-THIRD", "KEEP-WSGI", "KEEP-ASGI"):
        assert keep in api, keep
    assert b"KEEP-JSON" in blob  # the stored bytes are searchable as text
    found += leaks(blob, both, "collector database")
    found += leaks(api, both, "query API")
    if agent in api:
        found.append("agent token in the query API")
    # The token was minted into the database by the test itself; what the
    # SDK adds must not hold it: the bytes stored beyond the minting.
    assert blob.count(agent.encode()) <= minted_db.count(agent.encode())
    assert "cookie-secret-value" not in api  # the view's Set-Cookie
    # The spooled events kept their agent token through the seal: verified.
    verified = [e for e in evs if e.get("agent_session_id")]
    assert len(verified) == 2 * DJANGO_PER_RUN, len(verified)
    assert not found, found
