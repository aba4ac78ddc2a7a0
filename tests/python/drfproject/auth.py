"""DRF's authentication for drfproject, apart from the views: DRF's
settings import it while rest_framework.views is being imported."""

from rest_framework import authentication


class User:
    """A user without a database row (the test has none)."""

    is_authenticated = True

    def __init__(self, pk):
        self.pk = pk


class NameTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <name>` is user <name>: DRF's own
    authentication, which sets request.user on the Django request too."""

    def authenticate(self, request):
        scheme, _, name = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme != "Token" or not name:
            return None
        return User(name.split("-")[0]), None
