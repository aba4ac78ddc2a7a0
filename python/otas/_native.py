"""The one place that imports the C engine binding.

If the extension cannot load, that is an installation fault: `NATIVE_ERROR`
says why, the Django system check `otas.E001` reports it with the fix, and
the middleware lets requests pass through untouched with capture off.
`OTAS_ENGINE=null` selects the no-op engine, the baseline that tests and
benchmarks compare against; it is not a capture path.
"""

import os

NATIVE_ERROR = None

if os.environ.get("OTAS_ENGINE", "").lower() == "null":
    from . import _null_engine as engine
else:
    try:
        from . import _engine as engine
    except ImportError as exc:  # pragma: no cover - installation fault
        engine = None
        NATIVE_ERROR = f"{exc.__class__.__name__}: {exc}"

__all__ = ["engine", "NATIVE_ERROR"]
