"""A Django REST framework API as teams write one: a ViewSet behind
DefaultRouter (regex routes), DRF's JSON parsing and its own
authentication, with OTAS's one line in MIDDLEWARE (tests/python/test_drf.py)."""

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "drfproject.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "otas",
]
MIDDLEWARE = [
    "otas.OtasMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["drfproject.auth.NameTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
