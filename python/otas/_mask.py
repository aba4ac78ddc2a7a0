"""MASK_EVENT's view of an event: a dict a Moesif MASK_EVENT_MODEL can be
ported to line by line.

Bodies that are JSON reach the hook parsed (dict / list / ...), so
`event["response_body"]["password"] = None` works as Moesif's
`event.response.body["password"] = None` did; other bodies are bytes (or
None).  `user_id`, `company_id`, `session_token` and `metadata` can be
changed like any other field.  What the hook returns is turned back into
the engine's pieces here; the engine still applies every redaction rule
to it, so a mask can only remove, never leak.
"""

import json

_WS = b" \t\r\n"


def body_for_hook(body):
    """(value the hook sees, whether it is parsed JSON)."""
    if body is None:
        return None, False
    raw = bytes(body)
    head = raw.lstrip(_WS)[:1]
    if head in (b"{", b"["):
        try:
            return json.loads(raw), True
        except (ValueError, UnicodeDecodeError):
            pass
    return raw, False


def body_from_hook(value, was_json):
    """The bytes to capture for what the hook left in a body field."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if was_json or isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str).encode()
    return str(value).encode()


def text_or_none(value):
    return None if value is None else str(value)
