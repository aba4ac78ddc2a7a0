"""Options and counters are declared once, and what a user sees follows.

The options are the table engine/options.def, the counters the table
OTAS_STATS_FIELDS of include/otas/otas.h.  These tests read the tables
themselves (scripts/gen_docs.py parses them) and compare them with what the
built engine answers and with the README:

  - otas.stats() has exactly the table's keys, in the table's order (the
    "dropped" group nested), with the values the engine counted;
  - the engine knows exactly the table's option names, in order, with the
    table's defaults;
  - the README's option and stats tables are the generated ones;
  - the OTAS_DEBUG start-up line comes from the engine (every option,
    secrets as '***');
  - the built extension exports only the OTAS_API functions and PyInit.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

from otas import _engine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_docs  # noqa: E402

KEY = "otas_AAAAAAAAAAA_" + "E" * 43


def _flat(d, prefix=""):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{k}.")
        else:
            out.append(prefix + k)
    return out


@pytest.fixture
def eng(tmp_path):
    e = _engine.Engine({"OTAS_SDK_KEY": KEY, "OTAS_BASE_URL": "http://127.0.0.1:9",
                        "OTAS_SPOOL_MAX_BYTES": "0", "OTAS_SPOOL_DIR": str(tmp_path),
                        "OTAS_EXCLUDE_PATHS": "/health"})
    yield e
    e.close(0)


def test_stats_keys_are_the_table_in_order(eng):
    fields = gen_docs.stats_fields()
    assert len(fields) >= 24
    keys = gen_docs.stats_keys()
    assert "dropped.queue_full" in keys and "last_error" in keys
    st = eng.stats()
    assert _flat(st) == keys
    assert list(st["dropped"]) == [k for _, _, g, k, _ in fields if g == "dropped"]
    # the values are the engine's: two queued, one excluded
    for path in ("/a", "/b", "/health"):
        eng.capture(_engine.Exchange("GET", path, None, [], 1, status=200))
    st = eng.stats()
    assert st["captured"] == 2 and st["excluded"] == 1
    assert st["queue_events"] == 2 and st["dropped"]["queue_full"] == 0
    assert isinstance(st["last_error"], str) and st["batch_endpoint"] == -1


def test_option_names_and_defaults_are_the_table():
    table = gen_docs.options()
    assert len(table) == 51  # ... + OTAS_MAX_IN_FLIGHT, OTAS_SENDER_NICE,
    #                          OTAS_BATCH_BACKLOG_EVENTS
    defaults = _engine.option_defaults()
    assert list(defaults) == [o[0] for o in table]
    for name, typ, _field, default, *_ in table:
        if typ in ("SECRET", "HIDDEN") or name == "OTAS_AUTH_URL":
            continue  # read back masked / as the base URL
        if typ == "BOOL":
            default = {"1": "1", "0": "0"}[default]
        assert defaults[name] == default, name


def test_option_types_are_the_table_and_hide_secrets_in_repr():
    from otas import conf

    names = {"STR": "string", "SECRET": "sdk_key", "HIDDEN": "secret",
             "URL": "url", "RULES": "rules", "BOOL": "bool", "INT": "int",
             "SIZE": "size"}
    assert _engine.option_types() == {o[0]: names[o[1]] for o in gen_docs.options()}
    s = conf.Settings({"OTAS_SDK_KEY": KEY, "OTAS_OTLP_HEADERS": "k=pipe-77",
                       "OTAS_TAGS": "blue"}, {})
    assert KEY not in repr(s) and "pipe-77" not in repr(s) and "blue" in repr(s)


def test_readme_tables_are_generated_from_the_tables():
    readme = (ROOT / "README.md").read_text()
    assert gen_docs.render(readme) == readme, (
        "README.md is stale: run python3 scripts/gen_docs.py")
    for name, *_ in gen_docs.options():
        assert f"| `{name}` |" in readme
    for _, _, group, key, _ in gen_docs.stats_fields():
        shown = key if group == "top" else f'["{group}"]["{key}"]'
        assert f"| `{shown}` |" in readme


def test_a_bad_jsonpath_rule_is_a_startup_error_naming_the_option():
    with pytest.raises(ValueError) as e:
        _engine.check_options({"OTAS_REDACT_RESPONSE_BODY": "$.ok, $.a["})
    assert "OTAS_REDACT_RESPONSE_BODY" in str(e.value) and "$.a[" in str(e.value)
    assert "fix the JSONPath rule" in str(e.value)


def test_debug_start_up_line_is_the_engines(tmp_path):
    lines = []
    e = _engine.Engine({"OTAS_SDK_KEY": KEY, "OTAS_BASE_URL": "http://127.0.0.1:9",
                        "OTAS_SPOOL_DIR": str(tmp_path),
                        "OTAS_OTLP_HEADERS": "x-k=pipe-77"},
                       lambda level, msg: lines.append((level, msg)), 10)
    try:
        start = [m for lv, m in lines if m.startswith("otas: start (pid ")]
        assert len(start) == 1 and lines[0][0] == 10
        for name, *_ in gen_docs.options():
            assert f" {name}='" in start[0]
        assert "OTAS_SDK_KEY='***'" in start[0] and "OTAS_OTLP_HEADERS='***'" in start[0]
        assert KEY not in start[0] and "pipe-77" not in start[0]
    finally:
        e.close(0)


def test_extension_exports_only_the_public_functions():
    spec = importlib.util.spec_from_file_location(
        "test_exports", ROOT / "tests" / "c" / "test_exports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    errors = mod.check(ROOT / "include" / "otas" / "otas.h", _engine.__file__,
                       extension=True)
    assert errors == []


def test_null_engine_stats_are_every_counter_of_the_table():
    from otas import _null_engine

    e = _null_engine.Engine({})
    st = e.stats()
    assert _flat(st) == gen_docs.stats_keys()
    assert st["captured"] == 0 and st["sent"] == 0
    assert st["dropped"]["queue_full"] == 0 and st["last_error"] == ""


def test_python_reads_its_defaults_from_the_c_table():
    from otas import _runtime, conf

    table = {o[0]: o[3] for o in gen_docs.options()}
    s = conf.Settings({}, {})
    assert s.enabled is (table["OTAS_ENABLED"] == "1")
    assert s.debug is False and s.strict_startup is False
    assert s.shutdown_timeout_ms == int(table["OTAS_SHUTDOWN_TIMEOUT_MS"])
    assert s.ms("OTAS_TIMEOUT_MS") == int(table["OTAS_TIMEOUT_MS"])
    assert conf.default("OTAS_TIMEOUT_MS") == table["OTAS_TIMEOUT_MS"]
    # a value set wins; no runtime: the table's shutdown timeout
    assert conf.Settings({"OTAS_SHUTDOWN_TIMEOUT_MS": "1234"}, {}).shutdown_timeout_ms == 1234
    assert conf.Settings({"OTAS_ENABLED": "0"}, {}).enabled is False
    if _runtime._current is None:
        assert _runtime.current_shutdown_timeout_ms() == int(table["OTAS_SHUTDOWN_TIMEOUT_MS"])
    # no literal copy of these defaults is left in the Python package
    src = "".join((ROOT / "python/otas" / f).read_text() for f in ("conf.py", "_runtime.py"))
    for name in ("OTAS_SHUTDOWN_TIMEOUT_MS", "OTAS_TIMEOUT_MS"):
        assert f'"{name}", {table[name]}' not in src


@pytest.mark.parametrize("value,want", [
    ("false", False), ("off", False), ("no", False), ("0", False),
    ("true", True), ("on", True), ("yes", True), ("1", True)])
def test_python_reads_a_bool_option_as_the_engine_does(value, want):
    """Every spelling the engine accepts for a BOOL means the same in the
    Python package: OTAS_CAPTURE_OUTGOING_BODIES=false once kept sending
    outgoing bodies (the package compared with "0")."""
    from otas import conf, outgoing

    names = ("CAPTURE_OUTGOING_BODIES", "PROPAGATE_TRACEPARENT", "EVENT_ID_HEADER",
             "CAPTURE_OUTGOING", "RESOLVE_USER")
    settings = conf.load(kwargs={n: value for n in names}, environ={}, require_key=False)
    rec = outgoing._Recorder(None, [], settings)
    assert (rec.bodies, rec.propagate) == (want, want)
    from otas._common import HostOptions
    host = HostOptions(settings, engine=object())
    assert (host.id_header, host.outgoing) == (want, want)
    # Unset: the engine's table decides (bodies and traceparent on).
    rec = outgoing._Recorder(None, [], conf.load(kwargs={}, environ={}, require_key=False))
    assert (rec.bodies, rec.propagate) == (True, True)


def test_python_repeats_no_option_default():
    """The package reads an option through Settings.get (the C table's
    default when unset), never options.get(name, <a default of its own>)."""
    import re

    options = set(_engine.option_defaults())
    pat = re.compile(r'\.get\(\s*"(OTAS_[A-Z0-9_]+)"\s*,')
    found = [f"{p.name}:{i}" for p in (ROOT / "python" / "otas").glob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1)
             for m in pat.finditer(line) if m.group(1) in options]
    assert len(options) > 50 and found == []
