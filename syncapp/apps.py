from django.apps import AppConfig


class SyncAppConfig(AppConfig):
    name = "syncapp"
    verbose_name = "Bugsink to Gitea sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Both modules register system checks when they are imported.
        from syncapp import checks, scrubbing  # noqa: F401
