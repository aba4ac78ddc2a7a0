"""Private binding of the OTAS C engine (otas/_engine.c)."""

from typing import Any, Mapping, Sequence

VERSION: str
CAP_RESP_STREAMING: int
CAP_REQ_BODY_SKIPPED: int
CAP_OUTGOING: int
AUTH_OK: int
AUTH_INVALID_KEY: int
AUTH_UNREACHABLE: int
AUTH_CONFIG: int
ENTITY_USER: int
ENTITY_COMPANY: int
ENTITY_SUBSCRIPTION: int

AuthResult = tuple[int, int, str, str, str, str]

def authenticate_key(auth_url: str, key: str, timeout_ms: int) -> AuthResult: ...
def check_options(options: dict[str, str]) -> None: ...
def option_defaults() -> dict[str, str]: ...
def option_types() -> dict[str, str]: ...

class Exchange:
    """One request/response, the record capture() reads.

    Exchange(method, path, route, headers, start_us, **fields): the five
    positional ones for the request path, any field by keyword; every field
    not given has the default below.  Each field is a fixed slot of the C
    struct (no __dict__: an unknown name is an AttributeError); capture()
    reads the struct, no attribute lookup.  Bodies are borrowed, not
    copied, and cut at the engine's cap (+1 byte, so that the engine marks
    them truncated) by capture() itself.
    """

    # -- the request
    method: str | None  # HTTP method; None: REQUEST_METHOD of a dict `headers`
    path: str | None  # the path, without the query string
    route: str | None  # the route template ("api/items/<int:pk>"), None unknown
    # The WSGI environ / Django META dict (headers are its HTTP_* and
    # CONTENT_* keys; query, peer and scheme are read from QUERY_STRING,
    # REMOTE_ADDR, wsgi.url_scheme; Host from SERVER_NAME/PORT when absent),
    # or a sequence of (name, value) str/bytes pairs (ASGI, outgoing calls).
    headers: Mapping[str, Any] | Sequence[tuple[str | bytes, str | bytes]] | None
    req_body: bytes | bytearray | memoryview | None  # the request body, or None
    req_size: int  # = 0; the request body's full size in bytes (-1: unknown)
    # -- the response
    status: int  # = 0; the HTTP status
    # Django's ResponseHeaders._store {lower: (Name, value)}, a {name: value}
    # dict, or (name, value) pairs; None: no headers.
    resp_headers: Any
    resp_body: bytes | bytearray | memoryview | None  # the response body
    resp_size: int  # = 0; the response body's full size (-1: unknown)
    # -- timing and flags
    start_us: int  # = 0; when the request started, Unix microseconds
    duration_ns: int  # = 0; how long it took, nanoseconds (monotonic clock)
    flags: int  # = 0; CAP_RESP_STREAMING | CAP_REQ_BODY_SKIPPED | CAP_OUTGOING
    # -- errors and identity (None: not known)
    errors: Sequence[tuple[str, str, str]] | None  # (type, message, stack)
    user_id: str | None  # None: the engine reads the JWT (OTAS_USER_ID_FIELD)
    company_id: str | None
    session_token: str | None
    metadata: str | None  # the user's metadata, a JSON object
    parent_event_id: str | None  # the incoming request's event (outgoing calls)
    event_id: str | None  # a new_event_id() the event must carry; None: new
    # -- set: they win over what a dict `headers` says
    query: str | bytes | None  # the query string, without "?"
    remote_addr: str | None  # the peer address
    scheme: str | None  # "http" or "https"
    # -- the adapter's, never read by the engine
    request: Any  # the framework's request, for the user's hooks
    response: Any  # the framework's response, for the user's hooks
    store: dict[str, Any] | None  # where report_error()/outgoing calls left
    # errors and the event id (request.__dict__, the environ, the scope)

    def __init__(
        self,
        method: str | None = None,
        path: str | None = None,
        route: str | None = None,
        headers: Any = None,
        start_us: int = 0,
        /,
        **fields: Any,
    ) -> None: ...

class Engine:
    closed: bool
    # null=True: no engine (OTAS_ENGINE=null, the benchmarks' baseline):
    # capture() and capture_django() read every argument and stop before
    # the engine's copy; the other methods raise RuntimeError.
    def __init__(self, options: dict[str, str], log: Any = ..., log_level: int = ...,
                 null: bool = False) -> None: ...
    def capture(self, exchange: Exchange, want_id: bool = False, /) -> str | None:
        """Copy one Exchange into the engine's queue (the GIL is kept: a
        copy and a push).  The event's UUIDv7 when want_id and it was
        queued, else None; never raises for an event the engine drops."""
    def django_setup(self, lazy_type: type, skip_keys: tuple[str, ...],
                     user_in_c: bool, content_property: Any = None, /) -> None:
        """Once, before capture_django(): Django's SimpleLazyObject, the
        request.__dict__ keys that send a request to the Python core,
        whether the binding reads str(request.user.pk) itself, and
        HttpResponse.content: for a response type with that very property
        the binding takes the bytes from response._container without the
        property's call and copy."""
    def django_caller(self, get_response: Any, want_id: bool, record: Any,
                      fail: Any, no_body: tuple[None, int, int],
                      skip_prefixes: tuple[str, ...] = ..., python: Any = ...,
                      /) -> Any:
        """The Django middleware's request path as one C callable:
        caller(request) reads the body as the Python middleware does
        (want_request_body(), request.body, wsgi.input pointed at Django's
        stream), runs get_response(request) and captures as
        capture_django(); NotImplemented before the view for runserver's
        empty CONTENT_LENGTH.  An exception from the view goes to
        record(request, None, body, t0_ns, exc) and is raised again,
        capture_django()'s NotImplemented to record(request, response,
        body, t0_ns), an Exception of the capture to fail().  body is
        no_body for a request without one.  Needs django_setup().  With
        skip_prefixes and python (given together): a request whose path
        starts with one of the prefixes, and what would be NotImplemented,
        is python(request)'s instead -- the caller is then a whole
        middleware."""
    def capture_django(self, request: Any, response: Any, t0_ns: int,
                       body: tuple[bytes | None, int, int], want_id: bool, /) -> Any:
        """The Django middleware's capture in one call: reads the request
        (method, path, resolver_match.route, META, user, session, _body)
        and the response (status_code, headers._store, content) itself;
        t0_ns is time.perf_counter_ns() at the request's start.  Returns
        the event id (want_id), None, or NotImplemented when the Python
        core must take the request (streaming response, reported errors, an
        event id named up front, a user object read in Python)."""
    def should_capture(self, method: str, path: str, /) -> bool: ...
    def new_event_id(self) -> str: ...
    def entity(self, kind: int, json: str, /) -> bool: ...
    def body_cap(self) -> int: ...
    def want_request_body(self, content_type: str | None, content_length: int, /) -> bool: ...
    def authenticate(self, timeout_ms: int, /) -> AuthResult: ...
    def flush(self, timeout_ms: int, /) -> bool: ...
    def close(self, timeout_ms: int, /) -> None: ...
    def stats(self) -> dict[str, Any]: ...
