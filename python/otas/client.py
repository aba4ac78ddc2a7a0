"""OtasClient: the original SDK's authentication API, done by the engine."""

import os

from . import _native
from .exceptions import (
    MISSING_KEY_MESSAGE,
    OtasAuthenticationError,
    OtasConfigurationError,
    OtasConnectionError,
)

DEFAULT_BASE_URL = "http://localhost:8002"


class OtasClient:
    """Authenticate an SDK key and read its project.

    >>> client = OtasClient(os.environ["OTAS_SDK_KEY"]).authenticate()
    >>> client.project_id
    """

    __slots__ = ("_key", "auth_url", "timeout", "is_authenticated",
                 "project_id", "project_name", "project_description")

    def __init__(self, sdk_key=None, *, auth_url=None, timeout=10.0):
        # Trimmed, as the engine reads the same options (a key from a
        # mounted secret file ends with a newline).
        key = sdk_key if sdk_key is not None else os.environ.get("OTAS_SDK_KEY")
        key = key.strip() if isinstance(key, str) else key
        if not key:
            raise OtasConfigurationError(MISSING_KEY_MESSAGE)
        self._key = key
        self.auth_url = (auth_url or (os.environ.get("OTAS_AUTH_URL") or "").strip()
                         or (os.environ.get("OTAS_BASE_URL") or "").strip()
                         or DEFAULT_BASE_URL).strip()
        self.timeout = float(timeout)
        self.is_authenticated = False
        self.project_id = self.project_name = self.project_description = None

    def authenticate(self):
        """POST the key to the authentication endpoint; return self.

        Raises OtasAuthenticationError when the key is refused and
        OtasConnectionError (a subclass) when the back end is unreachable.
        """
        mod = _native.engine
        if mod is None:
            raise OtasConfigurationError(
                f"the OTAS C engine is not installed ({_native.NATIVE_ERROR})")
        status, http, message, pid, name, desc = mod.authenticate_key(
            self.auth_url, self._key, int(self.timeout * 1000))
        if status == mod.AUTH_OK:
            self.is_authenticated = True
            self.project_id, self.project_name = pid, name
            self.project_description = desc
            return self
        self.is_authenticated = False
        if status == mod.AUTH_UNREACHABLE:
            raise OtasConnectionError(
                f"could not reach OTAS at {self.auth_url}: {message}", http)
        if status == mod.AUTH_CONFIG:
            raise OtasConfigurationError(message)
        raise OtasAuthenticationError(
            f"OTAS rejected the SDK key: {message} (HTTP {http})", http)

    def __repr__(self):
        return (f"OtasClient(auth_url={self.auth_url!r}, "
                f"is_authenticated={self.is_authenticated}, "
                f"project_id={self.project_id!r})")
