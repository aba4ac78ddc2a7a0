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

class Engine:
    closed: bool
    def __init__(self, options: dict[str, str], log: Any = ..., log_level: int = ...) -> None: ...
    def capture(
        self,
        method: str,
        path: str,
        route: str | None,
        environ: Mapping[str, Any] | Sequence[tuple[str, str]],
        req_body: bytes | None,
        req_size: int,
        status: int,
        resp_headers: Any,
        resp_body: bytes | None,
        resp_size: int,
        start_unix_us: int,
        duration_ns: int,
        flags: int,
        errors: Sequence[tuple[str, str, str]] | None,
        extra: tuple | None,  # 8-tuple, or 9 with event_id last
        want_id: bool,
        /,
    ) -> str | None: ...
    def should_capture(self, method: str, path: str, /) -> bool: ...
    def new_event_id(self) -> str: ...
    def entity(self, kind: int, json: str, /) -> bool: ...
    def body_cap(self) -> int: ...
    def want_request_body(self, content_type: str | None, content_length: int, /) -> bool: ...
    def authenticate(self, timeout_ms: int, /) -> AuthResult: ...
    def flush(self, timeout_ms: int, /) -> bool: ...
    def close(self, timeout_ms: int, /) -> None: ...
    def stats(self) -> dict[str, Any]: ...
