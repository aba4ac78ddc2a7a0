"""One Django project for every variant; BENCH_VARIANT picks the middleware.

The capture middleware goes first (outermost) for every SDK, as each one's
documentation asks, so each sees the whole request.  Peer-specific SDK
set-up that is not a Django setting (OTel providers, sentry_sdk.init) is
done by bench/worker.py before the WSGI handler is built.
"""

import os

VARIANT = os.environ.get("BENCH_VARIANT", "baseline")
SINK = os.environ.get("BENCH_SINK_URL", "http://127.0.0.1:9")
REDACT = os.environ.get("BENCH_REDACT") == "1"

# The five body-redaction rules of the redaction workload, in each SDK's terms.
REDACT_JSONPATH = ["$.password", "$.token", "$.ssn", "$.card.number", "$.card.cvv"]
REDACT_KEYS = ["password", "token", "ssn", "number", "cvv"]

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "benchproj.urls"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

if VARIANT in ("otas", "null", "before"):  # before: otas of run.py --before
    INSTALLED_APPS.append("otas")
    MIDDLEWARE.insert(0, "otas.OtasMiddleware")
    # The no-op engine knows no option names, so it reads no OTAS_*
    # environment variables: pass what the harness set through the setting.
    OTAS = {k[5:]: os.environ[k] for k in ("OTAS_SDK_KEY", "OTAS_BASE_URL",
                                          "OTAS_SPOOL_DIR") if k in os.environ}
    if REDACT:
        OTAS["REDACT_RESPONSE_BODY"] = REDACT_JSONPATH
elif VARIANT == "moesif":
    MIDDLEWARE.insert(0, "moesifdjango.middleware.moesif_middleware")
    MOESIF_MIDDLEWARE = {
        "APPLICATION_ID": "bench-application-id",
        "BASE_URI": SINK,
        "LOG_BODY": True,
    }
    if REDACT:
        MOESIF_MIDDLEWARE["RESPONSE_BODY_MASKS"] = REDACT_KEYS
elif VARIANT == "apitoolkit":
    MIDDLEWARE.insert(0, "apitoolkit_django.APIToolkit")
    APITOOLKIT_SERVICE_NAME = "bench"
    APITOOLKIT_CAPTURE_REQUEST_BODY = True
    APITOOLKIT_CAPTURE_RESPONSE_BODY = True
    if REDACT:
        APITOOLKIT_REDACT_RESPONSE_BODY = REDACT_JSONPATH
# "otel": DjangoInstrumentor inserts its own middleware (worker.py).
# "sentry": sentry_sdk.init patches Django (worker.py).
