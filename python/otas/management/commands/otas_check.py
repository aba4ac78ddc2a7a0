"""manage.py otas_check: validate the options and authenticate the key."""

import contextlib
import os

from django.core.management.base import BaseCommand, CommandError

from ... import conf
from ...client import OtasClient
from ...exceptions import OtasError


class Command(BaseCommand):
    help = "Check the OTAS configuration and authenticate the SDK key."

    def handle(self, *args, **options):
        try:
            settings = conf.load(conf.django_setting())
            if settings.exports_otlp:
                # Nothing goes to OTAS: there is no key to authenticate.
                endpoint = (settings.options.get("OTAS_OTLP_ENDPOINT")
                            or "http://127.0.0.1:4318/v1/logs")
                self.stdout.write(self.style.SUCCESS(
                    "OTAS options are valid; OTAS_EXPORTER=otlp sends events "
                    f"as OpenTelemetry logs to OTAS_OTLP_ENDPOINT={endpoint} "
                    "(/v1/logs is appended to a base URL; no SDK key needed)"))
                return
            # Read as the engine reads them (trimmed; the table's defaults).
            key = settings.get("OTAS_SDK_KEY")
            url = _auth_url(settings)
            with _ca_bundle(settings.get("OTAS_CA_BUNDLE")):
                client = OtasClient(key, auth_url=url).authenticate()
        except OtasError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"OTAS key accepted by {client.auth_url}: project "
            f"{client.project_name!r} ({client.project_id})"))


@contextlib.contextmanager
def _ca_bundle(path):
    """OTAS_CA_BUNDLE as the middleware's engine uses it, also when it is
    given in the Django setting: authentication without an engine reads
    it from the environment only."""
    if not path or os.environ.get("OTAS_CA_BUNDLE") == path:
        yield
        return
    saved = os.environ.get("OTAS_CA_BUNDLE")
    os.environ["OTAS_CA_BUNDLE"] = path
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OTAS_CA_BUNDLE", None)
        else:
            os.environ["OTAS_CA_BUNDLE"] = saved


def _auth_url(settings):
    """OTAS_AUTH_URL when set, else OTAS_BASE_URL (the engine's reading:
    the C table shows the unset AUTH_URL as the default BASE_URL, not the
    one this app sets)."""
    return ((settings.options.get("OTAS_AUTH_URL") or "").strip()
            or settings.get("OTAS_BASE_URL"))
