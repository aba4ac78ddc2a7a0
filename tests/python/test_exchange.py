"""The capture call's record, otas._engine.Exchange: typed fields with
defaults, nothing else accepted, cycles through it collected, and
capture() takes nothing else.  (What it reads from the record reaching the
collector is tests/python/test_adapters_parity.py's.)"""

import gc
import sys

import pytest

from otas import _engine, _null_engine

INT_FIELDS = ("req_size", "status", "resp_size", "start_us", "duration_ns",
              "flags")
OBJ_FIELDS = ("method", "path", "route", "headers", "req_body", "resp_headers",
              "resp_body", "errors", "user_id", "company_id", "session_token",
              "metadata", "parent_event_id", "event_id", "query", "remote_addr",
              "scheme", "request", "response", "store")


def test_defaults_positional_and_keyword_fields():
    x = _engine.Exchange()
    assert [getattr(x, f) for f in INT_FIELDS] == [0] * len(INT_FIELDS)
    assert [getattr(x, f) for f in OBJ_FIELDS] == [None] * len(OBJ_FIELDS)
    env = {"HTTP_HOST": "h"}
    x = _engine.Exchange("GET", "/a", "a/<int:pk>", env, 1234, status=201,
                         user_id="u1")
    assert (x.method, x.path, x.route, x.headers, x.start_us) == (
        "GET", "/a", "a/<int:pk>", env, 1234)
    assert (x.status, x.user_id, x.req_size) == (201, "u1", 0)


def test_unknown_fields_are_refused():
    x = _engine.Exchange("GET", "/a")
    with pytest.raises(AttributeError):
        x.sesion_token = "typo"
    with pytest.raises(AttributeError):
        _engine.Exchange(stauts=200)
    with pytest.raises(TypeError):
        _engine.Exchange("GET", "/a", None, {}, 0, "one too many")
    with pytest.raises(AttributeError):
        _null_engine.PyExchange(stauts=200)


def test_the_pure_python_record_has_the_same_fields():
    x, c = _null_engine.PyExchange(), _engine.Exchange()
    for f in INT_FIELDS + OBJ_FIELDS:
        assert getattr(x, f) == getattr(c, f), f
    assert _null_engine.Exchange is _engine.Exchange  # built: the same type


def test_a_cycle_through_the_record_is_collected():
    def live():
        return sum(type(o) is _engine.Exchange for o in gc.get_objects())

    gc.collect()
    before = live()
    for _ in range(100):
        x = _engine.Exchange("GET", "/a")
        # a streamed Django response: record -> response -> stream -> record
        x.response = {"stream": [x]}
        del x
    gc.collect()
    assert live() == before


def test_capture_takes_only_the_record(tmp_path):
    eng = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43,
                          "OTAS_BASE_URL": "http://127.0.0.1:9",
                          "OTAS_AUTH_URL": "http://127.0.0.1:9",
                          "OTAS_SPOOL_DIR": str(tmp_path)})
    try:
        with pytest.raises(TypeError):
            eng.capture("GET", "/a")
        with pytest.raises(TypeError):
            eng.capture(_null_engine.Engine({}))
        eid = eng.new_event_id()
        x = _engine.Exchange("GET", "/a", None, [], 1, status=200, event_id=eid)
        assert eng.capture(x, True) == eid
        assert eng.capture(x) is None
        # a body longer than the cap is cut in the binding, not copied whole
        x = _engine.Exchange("POST", "/big", None, [], 1, status=200,
                             resp_body=memoryview(b"x" * (eng.body_cap() * 4)))
        assert eng.capture(x) is None
        assert eng.stats()["captured"] == 3
    finally:
        eng.close(0)


def test_big_bodies_are_lent_and_given_back(tmp_path):
    # A body of 8 KB or more (exact bytes) is lent to the engine: it holds
    # one reference per queued event until it is done with it (here: at
    # close, nothing is delivered); a capture that is not queued holds
    # none, nor does a small body (copied).  The C side, queue-full drops
    # included: tests/c/test_capture.c.
    big, resp, small = b"b" * 65536, b"r" * 20000, b"s" * 4000
    eng = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "E" * 43,
                          "OTAS_BASE_URL": "http://127.0.0.1:9",
                          "OTAS_AUTH_URL": "http://127.0.0.1:9",
                          "OTAS_SPOOL_MAX_BYTES": "0",
                          "OTAS_EXCLUDE_PATHS": "/skip",
                          "OTAS_SPOOL_DIR": str(tmp_path)})
    counts = [sys.getrefcount(o) for o in (big, resp, small)]
    try:
        for _ in range(3):
            x = _engine.Exchange("POST", "/a", None, [], 1, status=200,
                                 req_body=big, resp_body=resp)
            eng.capture(x)
            x = _engine.Exchange("POST", "/a", None, [], 1, status=200,
                                 req_body=small, resp_body=small)
            eng.capture(x)
        del x
        assert eng.stats()["captured"] == 6
        assert [sys.getrefcount(o) for o in (big, resp, small)] == [
            counts[0] + 3, counts[1] + 3, counts[2]]
        eng.capture(_engine.Exchange("POST", "/skip", None, [], 1, status=200,
                                     req_body=big))
        assert eng.stats()["excluded"] == 1
        assert [sys.getrefcount(o) for o in (big, resp, small)] == [
            counts[0] + 3, counts[1] + 3, counts[2]]
    finally:
        eng.close(0)
    assert [sys.getrefcount(o) for o in (big, resp, small)] == counts
