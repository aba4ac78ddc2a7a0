"""OTAS_SENDER_NICE: the sender thread's nice value is the process's plus
the option; the threads that capture keep theirs."""

import os
import threading
import time

from otas import _engine


def _nices():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[int(tid)] = int(fields[16])  # field 19 of stat: nice
    return out


def _sender_nice(option, tmp_path, settled, linger=0.0):
    """The nice values of the threads the engine started, once settled()
    holds for them (or after 10 s), and the capturing thread's."""
    before = set(_nices())
    e = _engine.Engine({"OTAS_SDK_KEY": "otas_AAAAAAAAAAA_" + "N" * 43,
                        "OTAS_BASE_URL": "http://127.0.0.1:9",
                        "OTAS_AUTH_URL": "http://127.0.0.1:9",
                        "OTAS_SPOOL_DIR": str(tmp_path),
                        "OTAS_SENDER_NICE": option})
    mine = _nices()[threading.get_native_id()]
    try:
        # the sender starts at the first capture and sets its own value
        e.capture(_engine.Exchange("GET", "/a", None, [], 1, status=200))
        deadline = time.monotonic() + 10
        new = {}
        while time.monotonic() < deadline:
            new = {t: n for t, n in _nices().items() if t not in before}
            if new and settled(new, mine):
                break
            time.sleep(0.01)
        time.sleep(linger)  # long past the sender's start
        new = {t: n for t, n in _nices().items() if t in new}
        return new, mine, _nices()[threading.get_native_id()]
    finally:
        e.close(0)


def test_sender_runs_at_the_nice_value_asked(tmp_path):
    want = lambda mine: min(mine + 7, 19)  # noqa: E731
    new, mine, after = _sender_nice(
        "7", tmp_path, lambda new, mine: want(mine) in new.values())
    assert want(mine) in new.values(), (new, mine)
    assert after == mine  # the host's thread keeps its own


def test_default_leaves_the_sender_alone(tmp_path):
    new, mine, after = _sender_nice("0", tmp_path, lambda new, mine: True,
                                    linger=0.5)
    assert new and all(n == mine for n in new.values()), (new, mine)
    assert after == mine
