"""The install test's Django project: what a user's settings.py holds."""
import os

SECRET_KEY = "install-test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "installapp.urls"
DATABASES = {}
USE_TZ = True

INSTALLED_APPS = ["otas"]
MIDDLEWARE = ["otas.OtasMiddleware"]

# OTAS_SDK_KEY and OTAS_BASE_URL come from the environment.
OTAS = {
    "SENSITIVE_HEADERS": ["x-planted-secret"],
    "REDACT_REQUEST_BODY": ["$.password"],
    "FLUSH_INTERVAL_MS": 200,
    "SERVICE_VERSION": os.environ.get("APP_VERSION", "install-test"),
}
