"""manage.py otas_check: validate the options and authenticate the key."""

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
            key = settings.options.get("OTAS_SDK_KEY")
            url = (settings.options.get("OTAS_AUTH_URL")
                   or settings.options.get("OTAS_BASE_URL"))
            client = OtasClient(key, auth_url=url).authenticate()
        except OtasError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"OTAS key accepted by {client.auth_url}: project "
            f"{client.project_name!r} ({client.project_id})"))
