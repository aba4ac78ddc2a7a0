"""The demo app's settings without OTAS: the served-throughput baseline."""

from demoapp.settings import *  # noqa: F401,F403
from demoapp.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [a for a in INSTALLED_APPS if a != "otas"]
MIDDLEWARE = [m for m in MIDDLEWARE if "otas" not in m.lower()]
OTAS = {}
