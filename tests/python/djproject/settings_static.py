"""djproject with static files, for collectstatic (tests only)."""

import os

from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = INSTALLED_APPS + ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
STATIC_ROOT = os.environ.get("DJPROJECT_STATIC_ROOT", "/nonexistent")
