"""A no-op engine with the binding's API: the baseline for benchmarks.

It measures what the Python adapter costs without the C engine's copy and
enqueue.  It captures nothing and never sends; selected only by
OTAS_ENGINE=null.
"""

VERSION = "null"
CAP_RESP_STREAMING = 2
CAP_REQ_BODY_SKIPPED = 4
CAP_OUTGOING = 8
AUTH_OK, AUTH_INVALID_KEY, AUTH_UNREACHABLE, AUTH_CONFIG = 0, 1, 2, 3
ENTITY_USER, ENTITY_COMPANY, ENTITY_SUBSCRIPTION = 0, 1, 2


def authenticate_key(auth_url, key, timeout_ms):
    return (AUTH_OK, 200, "null engine", "null", "null", "")


def check_options(options):
    return None


def option_defaults():
    return {}


def option_types():
    return {}


class PyExchange:
    """The binding's record (see _engine.pyi), as a plain class for when
    the extension is not built: the defaults are class attributes, so an
    adapter pays only for what it sets.  With the extension the no-op
    engine takes the binding's own record (below), so that the baseline
    costs what the adapter costs."""

    method = path = route = headers = None
    req_body = resp_body = resp_headers = errors = None
    req_size = resp_size = status = start_us = duration_ns = flags = 0
    user_id = company_id = session_token = metadata = None
    parent_event_id = event_id = query = remote_addr = scheme = None
    request = response = store = None

    def __init__(self, method=None, path=None, route=None, headers=None,
                 start_us=0, **fields):
        self.method = method
        self.path = path
        self.route = route
        self.headers = headers
        self.start_us = start_us
        for k, v in fields.items():
            if not hasattr(PyExchange, k):
                raise AttributeError(f"Exchange has no field {k!r}")
            setattr(self, k, v)


try:
    from . import _engine as _c
    from ._engine import Exchange  # the same record, if built
except ImportError:  # pragma: no cover - the extension is not built
    _c = None
    Exchange = PyExchange

if _c is not None:
    # The options are the real engine's (a benchmark configures the null
    # engine as it configures the real one); only capture is a no-op.
    check_options = _c.check_options
    option_defaults = _c.option_defaults
    option_types = _c.option_types


class Engine:
    """With the extension built, capture() and capture_django() are the
    binding's own (Engine(null=True)): they read every argument as the
    real engine's do and stop before the engine's copy, so that the
    baseline costs what the adapter costs, C part included."""

    closed = False

    def __init__(self, options, log=None, log_level=30):
        self._captured = 0
        if _c is not None:
            c = _c.Engine({}, null=True)
            self._stats = c.stats
            self.capture = c.capture
            self.capture_django = c.capture_django
            self.django_setup = c.django_setup
            self.django_caller = c.django_caller

    def capture(self, exchange, want_id=False):
        if not isinstance(exchange, Exchange):
            raise TypeError("capture() takes an Exchange")
        self._captured += 1
        return None

    def capture_django(self, request, response, t0_ns, body, want_id):
        return NotImplemented  # pragma: no cover - the Python path

    def django_setup(self, lazy_type, skip_keys, user_in_c, content=None):
        pass  # pragma: no cover

    def django_caller(self, get_response, want_id, record, fail, no_body):
        return None  # pragma: no cover - the Python path

    def should_capture(self, method, path):
        return True

    def new_event_id(self):
        return "00000000-0000-7000-8000-000000000000"

    def entity(self, kind, json):
        return False

    def body_cap(self):
        return 102400

    def want_request_body(self, content_type, content_length):
        return 0 <= content_length <= 102400

    def authenticate(self, timeout_ms):
        return authenticate_key("", "", timeout_ms)

    def flush(self, timeout_ms):
        return True

    def close(self, timeout_ms):
        self.closed = True

    def _stats(self):  # pragma: no cover - the extension is not built
        # Without the extension there is no OTAS_STATS_FIELDS table.
        return {"captured": 0, "sent": 0, "dropped": {}}

    def stats(self):
        """The real engine's dict (every counter of OTAS_STATS_FIELDS, in
        its order, from the binding's table), all 0 but `captured`."""
        d = self._stats()
        d["captured"] = self._captured
        return d
