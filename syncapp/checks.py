"""Django system checks for the sync configuration (ids syncapp.E001 and up).

They run with every manage.py command, so a misconfiguration shows up at deploy time with
the variable's name, not at the first scheduled run.
"""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register

from syncapp.conf import read_sync_config

CONFIG_VARIABLE_IDS = {
    "BUGSINK_SYNC_ENABLED": "syncapp.E001",
    "BUGSINK_URL": "syncapp.E002",
    "BUGSINK_API_TOKEN": "syncapp.E003",
    "GITEA_URL": "syncapp.E004",
    "GITEA_API_TOKEN": "syncapp.E005",
    "GITEA_OWNER": "syncapp.E006",
    "GITEA_REPO": "syncapp.E007",
    "BUGSINK_SYNC_INTERVAL": "syncapp.E008",
    "BUGSINK_SYNC_INCLUDE_MUTED": "syncapp.E009",
}


@register()
def check_sync_configuration(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    _, problems = read_sync_config()
    return [
        Error(
            f"{problem.variable} {problem.message}",
            hint="See .env.example for every sync variable and its format.",
            id=CONFIG_VARIABLE_IDS.get(problem.variable, "syncapp.E000"),
        )
        for problem in problems
    ]


def redis_database(url: str) -> tuple[str, int | None, int]:
    parts = urlsplit(url)
    path = parts.path.strip("/")
    return (parts.hostname or "", parts.port, int(path) if path.isdigit() else 0)


@register()
def check_sync_state_database_is_private(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The sync state must not share its Redis database: a broker or cache flush would wipe it."""
    state = redis_database(settings.SYNC_STATE_REDIS_URL)
    others = {"REDIS_URL (Celery broker)": settings.CELERY_BROKER_URL}
    others["REDIS_URL (Celery results)"] = settings.CELERY_RESULT_BACKEND
    for alias, cache in getattr(settings, "CACHES", {}).items():
        if "redis" in cache.get("BACKEND", "").lower():
            location = cache.get("LOCATION")
            for url in [location] if isinstance(location, str) else location or []:
                others[f"CACHES[{alias!r}]"] = url
    return [
        Error(
            f"{name} uses the same Redis database as SYNC_STATE_REDIS_URL",
            hint="Give the sync state a Redis database of its own (15 by default).",
            id="syncapp.E010",
        )
        for name, url in others.items()
        if isinstance(url, str) and url.startswith("redis") and redis_database(url) == state
    ]
