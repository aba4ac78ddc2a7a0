"""The capture call a million times, each with a new Exchange record with
every field set: memory stays flat (a reference leak of even one small
object per call, in the record or the call, would add tens of MB)."""

from sdk_support import free_port, run_app

LEAK_APP = """
import json, resource, django
django.setup()
from django.test import RequestFactory
from django.http import JsonResponse
from otas import _engine, _runtime, conf
rt = _runtime.start(conf.load(None))
Exchange = _engine.Exchange
cap = rt.engine.capture
r = RequestFactory().post("/api/items/7?x=1", b'{"a": 1}', content_type="application/json",
                          HTTP_AUTHORIZATION="Bearer y", HTTP_USER_AGENT="leak")
resp = JsonResponse({"id": 1, "name": "x" * 200})
meta, hs, body = r.META, resp.headers._store, resp.content
errors = [("ValueError", "m", "stack")]
req = b'{"a": 1}'

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def burst(n):
    for i in range(n):
        x = Exchange("POST", "/api/items/7", "api/items/<int:pk>", meta, 1)
        x.req_body, x.req_size, x.status = req, 8, 201
        x.resp_headers, x.resp_body, x.resp_size = hs, body, len(body)
        x.duration_ns, x.flags, x.errors = 1000, 0, errors
        x.user_id, x.company_id, x.session_token = "u1", "c1", "s1"
        x.metadata, x.query, x.scheme = '{"k": 1}', "x=1", "https"
        x.store, x.request = {}, r
        cap(x, i % 2 == 0)

burst(100000)
before = rss()
burst(1000000)
after = rss()
s = rt.engine.stats()
print("RESULT " + json.dumps({"before": before, "after": after, "captured": s["captured"],
                              "dropped": s["dropped"]["queue_full"]}))
"""


def test_capture_call_does_not_leak(tmp_path):
    budget = 2 * 1024 * 1024
    p, res = run_app({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "L" * 43,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{free_port()}",
                      "OTAS_QUEUE_MAX_BYTES": str(budget),
                      "OTAS_SPOOL_MAX_BYTES": "0",
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "0"}, code=LEAK_APP, timeout=600)
    assert res is not None, p.stderr[-2000:]
    assert res["captured"] + res["dropped"] == 1_100_000
    growth = res["after"] - res["before"]
    assert growth < 8 * 1024 * 1024, res


DJANGO_LEAK_APP = """
import json, time, django
django.setup()
from django.test import RequestFactory
from django.http import JsonResponse
from django.utils.functional import SimpleLazyObject
from otas import _runtime, conf, outgoing
rt = _runtime.start(conf.load(None))
eng = rt.engine
eng.django_setup(SimpleLazyObject, (outgoing.ERRORS_ATTR, outgoing.EVENT_ID_ATTR,
                                    outgoing.CHILDREN_KEY), True)
cap = eng.capture_django

class User:
    is_authenticated = True
    pk = 7

class Session:
    session_key = "sess-1"

r = RequestFactory().post("/api/items/7?x=1", b'{"a": 1}', content_type="application/json",
                          HTTP_AUTHORIZATION="Bearer y", HTTP_USER_AGENT="leak")
r.resolver_match = None
r.user = SimpleLazyObject(lambda: User())
r.__dict__["_cached_user"] = User()
r.session = Session()
r.__dict__["_body"] = b'{"a": 1}'
resp = JsonResponse({"id": 1, "name": "x" * 200})
body = (None, 8, 4)  # skipped by the middleware, read by the view

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def burst(n):
    t0 = time.perf_counter_ns()
    for i in range(n):
        cap(r, resp, t0, body, i % 2 == 0)

burst(100000)
before = rss()
burst(1000000)
after = rss()
s = eng.stats()
print("RESULT " + json.dumps({"before": before, "after": after, "captured": s["captured"],
                              "dropped": s["dropped"]["queue_full"]}))
"""


def test_capture_django_does_not_leak(tmp_path):
    """capture_django() a million times, user, session and the view's
    body included: every reference it takes is released."""
    p, res = run_app({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "L" * 43,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{free_port()}",
                      "OTAS_QUEUE_MAX_BYTES": str(2 * 1024 * 1024),
                      "OTAS_SPOOL_MAX_BYTES": "0",
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "0"}, code=DJANGO_LEAK_APP,
                     timeout=600)
    assert res is not None, p.stderr[-2000:]
    assert res["captured"] + res["dropped"] == 1_100_000
    assert res["after"] - res["before"] < 8 * 1024 * 1024, res


DJANGO_CALLER_LEAK_APP = """
import json, django
django.setup()
from django.test import RequestFactory
from django.http import HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject
from otas import _runtime, conf, outgoing
rt = _runtime.start(conf.load(None))
eng = rt.engine
eng.django_setup(SimpleLazyObject, (outgoing.ERRORS_ATTR, outgoing.EVENT_ID_ATTR,
                                    outgoing.CHILDREN_KEY), True, HttpResponse.content)

class User:
    is_authenticated = True
    pk = 7

class Session:
    session_key = "sess-1"

r = RequestFactory().get("/api/items/7?x=1", HTTP_AUTHORIZATION="Bearer y",
                         HTTP_USER_AGENT="leak")
r.resolver_match = None
r.user = SimpleLazyObject(lambda: User())
r.__dict__["_cached_user"] = User()
r.session = Session()
resp = JsonResponse({"id": 1, "name": "x" * 200})
NO = (None, 0, 0)
seen = [0]

def record(*args):
    seen[0] += 1

def fail():
    raise AssertionError("capture failed")

def boom(q):
    raise ValueError("view")

plain = eng.django_caller(lambda q: resp, False, record, fail, NO)
named = eng.django_caller(lambda q: resp, True, record, fail, NO)
raising = eng.django_caller(boom, False, record, fail, NO)

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def burst(n):
    for i in range(n):
        plain(r)
        named(r)
        if i % 10 == 0:
            try:
                raising(r)
            except ValueError:
                pass

burst(50000)
before = rss()
burst(500000)
after = rss()
s = eng.stats()
print("RESULT " + json.dumps({"before": before, "after": after, "captured": s["captured"],
                              "dropped": s["dropped"]["queue_full"], "recorded": seen[0]}))
"""


def test_django_caller_does_not_leak(tmp_path):
    """The middleware's C callable a million times (and its exception path
    55,000 times): every reference it takes is released."""
    p, res = run_app({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "L" * 43,
                      "OTAS_BASE_URL": f"http://127.0.0.1:{free_port()}",
                      "OTAS_QUEUE_MAX_BYTES": str(2 * 1024 * 1024),
                      "OTAS_SPOOL_MAX_BYTES": "0",
                      "OTAS_SPOOL_DIR": str(tmp_path),
                      "OTAS_SHUTDOWN_TIMEOUT_MS": "0"}, code=DJANGO_CALLER_LEAK_APP,
                     timeout=600)
    assert res is not None, p.stderr[-2000:]
    assert res["captured"] + res["dropped"] == 1_100_000
    assert res["recorded"] == 55_000
    assert res["after"] - res["before"] < 8 * 1024 * 1024, res
