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


class Engine:
    closed = False

    def __init__(self, options, log=None, log_level=30):
        self._captured = 0

    def capture(self, *args):
        self._captured += 1
        return None

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

    def stats(self):
        return {"captured": self._captured, "sent": 0, "dropped": {}}
