"""The demo shop API: a small Django app with OTAS's one line added."""

SECRET_KEY = "demo-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "demoapp.urls"
USE_TZ = True
INSTALLED_APPS = ["otas"]
MIDDLEWARE = [
    "otas.OtasMiddleware",          # <- the one line OTAS needs
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {}
OTAS = {
    # Bodies: redact these JSON fields before anything leaves the process.
    "REDACT_REQUEST_BODY": ["$.password", "$.card.number"],
    "REDACT_RESPONSE_BODY": ["$..token"],
    # The user id comes from the JWT in Authorization (its `sub` claim);
    # the company from the header the shop's clients send.
    "IDENTIFY_COMPANY": lambda request, response: request.headers.get("X-Org"),
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"otas": {"handlers": ["console"], "level": "WARNING"}},
}
