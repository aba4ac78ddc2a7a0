"""Users, companies and subscriptions: validate here, deliver in the engine.

Each call checks its input and raises OtasError with what is wrong; the
engine (otas_entity) queues the update and its sender thread posts updates
in batches to the back end's ``/api/v1/entities/batch/``.  A back end
without that endpoint (the OTAS platform today) makes the engine drop them,
counted in ``otas.stats()["dropped_entities"]`` and logged once.
"""

import json

from . import _native, _runtime, conf
from .exceptions import OtasError

_KINDS = {
    "user": ("ENTITY_USER", ("user_id",)),
    "company": ("ENTITY_COMPANY", ("company_id",)),
    "subscription": ("ENTITY_SUBSCRIPTION", ("subscription_id", "company_id")),
}


def _check(kind, item, where):
    if not isinstance(item, dict):
        raise OtasError(f"{where}: a {kind} update is a dict, not "
                        f"{type(item).__name__}")
    for name in _KINDS[kind][1]:
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)) \
                or value == "":
            raise OtasError(
                f"{where}: {name!r} is required (a non-empty string or an "
                f"int), got {value!r}")
    meta = item.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise OtasError(f"{where}: 'metadata' must be a dict, not "
                        f"{type(meta).__name__}")
    try:
        return json.dumps(item, default=str)
    except (TypeError, ValueError) as exc:
        raise OtasError(f"{where}: not JSON-serialisable: {exc}") from None


def _engine():
    rt = _runtime.current()
    if rt is None or rt.engine.closed:
        settings = conf.load(conf.django_setting())
        if not settings.enabled or _native.engine is None:
            return None
        rt = _runtime.start(settings)
    return rt.engine


def _send(kind, items, name):
    docs = [_check(kind, item, f"{name}[{i}]" if len(items) > 1 or
                   name.endswith("batch") else name)
            for i, item in enumerate(items)]
    eng = _engine()
    if eng is None:
        return 0
    code = getattr(_native.engine, _KINDS[kind][0])
    queued = 0
    for doc in docs:
        try:
            queued += bool(eng.entity(code, doc))
        except ValueError as exc:  # the engine's own check
            raise OtasError(f"{name}: {exc}") from None
    return queued


def _batch(kind, items, name):
    if not isinstance(items, (list, tuple)):
        raise OtasError(f"{name} takes a list of dicts, not "
                        f"{type(items).__name__}")
    return _send(kind, list(items), name)


def update_user(user):
    """Create or update one user: {"user_id": ..., "company_id"?: ...,
    "metadata"?: {...}, ...}.  Returns 1 when queued, 0 when dropped."""
    return _send("user", [user], "update_user")


def update_users_batch(users):
    return _batch("user", users, "update_users_batch")


def update_company(company):
    """Create or update one company: {"company_id": ..., "metadata"?: {...}}."""
    return _send("company", [company], "update_company")


def update_companies_batch(companies):
    return _batch("company", companies, "update_companies_batch")


def update_subscription(subscription):
    """Create or update one subscription: {"subscription_id": ...,
    "company_id": ..., "status"?: ..., "metadata"?: {...}}."""
    return _send("subscription", [subscription], "update_subscription")


def update_subscriptions_batch(subscriptions):
    return _batch("subscription", subscriptions, "update_subscriptions_batch")
