"""The exceptions of the otas package (the original SDK's names, kept)."""

MISSING_KEY_MESSAGE = """OTAS_SDK_KEY environment variable is not set.

Set it to your project's SDK key before starting the app:

    export OTAS_SDK_KEY='otas_...'

A local collector prints a key with:
    otas-collector init --db otas.db --project "My API"
"""


class OtasError(Exception):
    """Base class of every error the otas package raises."""


class OtasConfigurationError(OtasError):
    """An option is missing or invalid; the message names it and the fix."""


class OtasAuthenticationError(OtasError):
    """The back end refused the SDK key (HTTP 401/403)."""

    def __init__(self, message, http_status=0):
        super().__init__(message)
        self.http_status = http_status


class OtasConnectionError(OtasAuthenticationError):
    """The back end could not be reached to authenticate.

    A subclass of OtasAuthenticationError so that code written for the
    original SDK, which raised that for every failure, still catches it.
    """
