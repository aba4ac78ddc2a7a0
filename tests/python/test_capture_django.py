"""Engine.capture_django(): the Django middleware's capture in one C call.

What the binding reads by itself, what it leaves to the Python core
(NotImplemented), and that it never forces what the view did not touch.
The stored events are checked end to end by test_django_capture.py and
test_identity.py; these pin the call's own contract."""

import re
import time

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from otas import _engine, outgoing

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SKIP = (outgoing.ERRORS_ATTR, outgoing.EVENT_ID_ATTR, outgoing.CHILDREN_KEY)
NO_BODY = (None, 0, 0)


@pytest.fixture
def eng(tmp_path):
    e = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43,
                        "OTAS_BASE_URL": "http://127.0.0.1:9",
                        "OTAS_AUTH_URL": "http://127.0.0.1:9",
                        "OTAS_SPOOL_DIR": str(tmp_path)})
    e.django_setup(SimpleLazyObject, SKIP, True)
    yield e
    e.close(0)


def request(path="/api/items/7", **extra):
    r = RequestFactory().get(path, HTTP_USER_AGENT="t", **extra)
    r.resolver_match = None
    return r


def test_plain_request_is_captured_in_one_call(eng):
    before = eng.stats()["captured"]
    resp = HttpResponse(b'{"a": 1}', content_type="application/json")
    assert eng.capture_django(request(), resp, time.perf_counter_ns(), NO_BODY,
                              False) is None
    eid = eng.capture_django(request(), resp, time.perf_counter_ns(), NO_BODY, True)
    assert UUID7.match(eid)
    assert eng.stats()["captured"] == before + 2


def test_python_core_cases_return_not_implemented(eng):
    before = eng.stats()["captured"]
    t0 = time.perf_counter_ns()
    stream = StreamingHttpResponse(iter([b"a", b"b"]))
    assert eng.capture_django(request(), stream, t0, NO_BODY, False) is NotImplemented
    assert list(stream.streaming_content) == [b"a", b"b"]  # not consumed
    for key in SKIP:
        r = request()
        r.__dict__[key] = []
        assert eng.capture_django(r, HttpResponse(b""), t0, NO_BODY,
                                  False) is NotImplemented
    assert eng.stats()["captured"] == before


def test_users_the_view_did_not_load_stay_unloaded(eng):
    def boom():
        raise AssertionError("request.user was forced")

    class User:
        is_authenticated = True
        pk = 42

    class Broken:
        @property
        def is_authenticated(self):
            raise RuntimeError("user backend down")

    before = eng.stats()["captured"]
    t0 = time.perf_counter_ns()
    r = request()
    r.user = SimpleLazyObject(boom)  # AuthenticationMiddleware's, not evaluated
    assert eng.capture_django(r, HttpResponse(b""), t0, NO_BODY, False) is None
    r.__dict__["_cached_user"] = User()  # evaluated by the view
    assert eng.capture_django(r, HttpResponse(b""), t0, NO_BODY, False) is None
    r = request()
    r.user = Broken()  # a failing user is no user; the event is kept
    assert eng.capture_django(r, HttpResponse(b""), t0, NO_BODY, False) is None
    assert eng.stats()["captured"] == before + 3
    # OTAS_USER_ID_FIELD other than pk / OTAS_RESOLVE_USER: Python reads it
    eng.django_setup(SimpleLazyObject, SKIP, False)
    r = request()
    r.user = User()
    got = eng.capture_django(r, HttpResponse(b""), t0, NO_BODY, False)
    assert got is NotImplemented


def test_arguments_and_setup_are_checked(tmp_path):
    e = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43,
                        "OTAS_BASE_URL": "http://127.0.0.1:9",
                        "OTAS_SPOOL_DIR": str(tmp_path)})
    try:
        with pytest.raises(RuntimeError):
            e.capture_django(request(), HttpResponse(b""), 0, NO_BODY, False)
        e.django_setup(SimpleLazyObject, SKIP, True)
        with pytest.raises(TypeError):
            e.capture_django(request(), HttpResponse(b""), 0, (None, 0), False)
        with pytest.raises(TypeError):
            e.django_setup(SimpleLazyObject, list(SKIP), True)
    finally:
        e.close(0)
    with pytest.raises(RuntimeError):  # closed
        e.capture_django(request(), HttpResponse(b""), 0, NO_BODY, False)


def test_null_engine_reads_everything_and_copies_nothing():
    n = _engine.Engine({}, null=True)
    n.django_setup(SimpleLazyObject, SKIP, True)
    r = request()
    r.__dict__["_body"] = b"read by the view"
    assert n.capture_django(r, HttpResponse(b"x"), time.perf_counter_ns(),
                            (None, 16, _engine.CAP_REQ_BODY_SKIPPED), True) is None
    assert n.capture(_engine.Exchange("GET", "/a", None, {}, 1)) is None
    with pytest.raises(RuntimeError):  # the null engine only captures
        n.flush(0)


def test_django_caller_is_the_middleware_path(eng):
    # the middleware's common case as one C callable: the view, then the
    # capture; what the Python middleware handles goes back to it
    calls = []

    def record(*args):
        calls.append(args)

    def fail():
        calls.append("fail")

    resp = HttpResponse(b"ok")
    before = eng.stats()["captured"]
    caller = eng.django_caller(lambda r: resp, False, record, fail, NO_BODY)
    assert caller(request()) is resp
    assert eng.stats()["captured"] == before + 1 and calls == []
    # a request body is read before the view, which reads it again, from
    # request.body and from the stream
    seen = []

    def echo(r):
        seen.append((r.body, r.read()))
        return HttpResponse(r.body)

    body = eng.django_caller(echo, False, record, fail, NO_BODY)
    post = RequestFactory().post("/api/items", data=b'{"a": 1}',
                                 content_type="application/json")
    assert body(post).content == b'{"a": 1}'
    assert seen == [(b'{"a": 1}', b'{"a": 1}')]
    assert post.__dict__["_body"] == b'{"a": 1}'
    # not wanted (octet-stream): left unread for the view
    up = RequestFactory().post("/api/items", data=b"\x00" * 10,
                               content_type="application/octet-stream")
    got = eng.django_caller(lambda r: HttpResponse(r.read()), False, record,
                            fail, NO_BODY)(up)
    assert got.content == b"\x00" * 10
    # runserver's empty CONTENT_LENGTH: the Python middleware's
    empty = request()
    empty.META["CONTENT_LENGTH"] = ""
    assert caller(empty) is NotImplemented
    # the view raises: recorded with the exception, which goes on
    def boom(r):
        raise ValueError("view")

    r = request()
    with pytest.raises(ValueError, match="view"):
        eng.django_caller(boom, False, record, fail, NO_BODY)(r)
    assert calls[-1][:4] == (r, None, NO_BODY, calls[-1][3])
    assert isinstance(calls[-1][4], ValueError)
    # an id wanted: the response header
    got = eng.django_caller(lambda r: HttpResponse(b"ok"), True, record, fail,
                            NO_BODY)(request())
    assert UUID7.match(got["X-OTAS-Event-Id"])
    # capture_django()'s NotImplemented: record() gets the response
    stream = StreamingHttpResponse(iter([b"a"]))
    assert eng.django_caller(lambda r: stream, False, record, fail,
                             NO_BODY)(request()) is stream
    assert calls[-1][1] is stream and len(calls[-1]) == 4
    assert list(stream.streaming_content) == [b"a"]
    assert eng.stats()["captured"] == before + 4 and "fail" not in calls


def test_django_caller_as_the_whole_middleware(eng):
    # with the skipped prefixes and the Python path, the callable is the
    # whole middleware: a skipped path and runserver's empty
    # CONTENT_LENGTH go to python(request), the rest is captured in C
    gone = []

    def python(r):
        gone.append(r.path)
        return HttpResponse(b"python")

    resp = HttpResponse(b"ok")
    whole = eng.django_caller(lambda r: resp, False, lambda *a: None,
                              lambda: None, NO_BODY, ("/static/", "/media/"),
                              python)
    before = eng.stats()["captured"]
    assert whole(request()) is resp
    assert whole(request("/static/app.css")).content == b"python"
    assert whole(request("/media/a.png")).content == b"python"
    empty = request("/api/items/8")
    empty.META["CONTENT_LENGTH"] = ""
    assert whole(empty).content == b"python"
    assert gone == ["/static/app.css", "/media/a.png", "/api/items/8"]
    assert eng.stats()["captured"] == before + 1
    # no prefixes: only what the C path leaves goes to Python
    whole = eng.django_caller(lambda r: resp, False, lambda *a: None,
                              lambda: None, NO_BODY, (), python)
    assert whole(request("/static/app.css")) is resp
    with pytest.raises(TypeError):
        eng.django_caller(lambda r: resp, False, lambda *a: None,
                          lambda: None, NO_BODY, ("/static/", 3), python)
    with pytest.raises(TypeError):
        eng.django_caller(lambda r: resp, False, lambda *a: None,
                          lambda: None, NO_BODY, ("/static/",))


def test_middleware_is_the_c_callable_in_the_common_case(collector, monkeypatch):
    # OtasMiddleware(get_response) hands Django the C callable itself (no
    # Python frame of ours per request); a subclass keeps its __call__.
    # An app without OpenTelemetry: another test of this process may have
    # imported it (FastAPI does), which turns the short path off.
    import sys

    from otas.middleware import OtasMiddleware

    monkeypatch.delitem(sys.modules, "opentelemetry.trace", raising=False)

    def view(r):
        return HttpResponse(b"ok")

    mw = OtasMiddleware(view)
    assert type(mw).__name__ == "DjangoCall"
    assert mw(request()).content == b"ok"

    class Mine(OtasMiddleware):
        pass

    sub = Mine(view)
    assert isinstance(sub, Mine) and sub._whole is not None
    assert sub(request()).content == b"ok"
