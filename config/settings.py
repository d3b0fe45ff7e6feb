"""Django settings, read from the environment (and from a .env file beside manage.py, if any).

Every variable is documented in .env.example. The sync variables are only stored here: they are
validated by syncapp.conf, which reports each problem by variable name.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# NOTE: the fallback key exists so that `make demo` and the tests run without set-up;
# `manage.py check --deploy` flags it, and a deployment must set SECRET_KEY.
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-local-only-set-SECRET_KEY-in-production"
)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "syncapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's CSS and JavaScript from STATIC_ROOT (filled by collectstatic).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- Redis ---------------------------------------------------------------------------------
# The broker and the sync state are kept apart: a broker or cache flush must never wipe the
# record of which Bugsink issues already have a Gitea issue.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
SYNC_STATE_REDIS_URL = env.str("SYNC_STATE_REDIS_URL", default="redis://127.0.0.1:6379/15")

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {"syncapp.tasks.*": {"queue": "bugsink-sync"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A message that is not acknowledged within this time is delivered again. It must exceed the
# longest retry countdown plus the task's hard time limit (see syncapp.tasks), or a retry that
# is waiting for its countdown would be handed to a second worker.
# The connect timeouts bound how long the admin API waits for an unreachable Redis before it
# returns 503 (the operating system's own timeout can be minutes).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 5}
# Celery's default of 20 reconnect attempts, about a second apart, would hold a request to the
# admin API for some 20 s before it could report Redis as unreachable.
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "retry_policy": {"max_retries": 5},
}
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 5

# --- Sync ----------------------------------------------------------------------------------
BUGSINK_URL = env.str("BUGSINK_URL", default="")
BUGSINK_API_TOKEN = env.str("BUGSINK_API_TOKEN", default="")
GITEA_URL = env.str("GITEA_URL", default="")
GITEA_API_TOKEN = env.str("GITEA_API_TOKEN", default="")
GITEA_OWNER = env.str("GITEA_OWNER", default="")
GITEA_REPO = env.str("GITEA_REPO", default="")
BUGSINK_SYNC_ENABLED = env.str("BUGSINK_SYNC_ENABLED", default="false")
BUGSINK_SYNC_INTERVAL = env.str("BUGSINK_SYNC_INTERVAL", default="15")
BUGSINK_SYNC_INCLUDE_MUTED = env.str("BUGSINK_SYNC_INCLUDE_MUTED", default="false")
# Seconds to wait for a connection to, and a response from, Bugsink or Gitea.
SYNC_HTTP_CONNECT_TIMEOUT = env.float("SYNC_HTTP_CONNECT_TIMEOUT", default=5.0)
SYNC_HTTP_READ_TIMEOUT = env.float("SYNC_HTTP_READ_TIMEOUT", default=30.0)
# A read that failed transiently (no connection, timeout, 429, 5xx) is tried again this many
# times within a run, waiting SYNC_HTTP_BACKOFF_SECONDS, then twice that, and so on (or the
# server's Retry-After, up to 30 s).
SYNC_HTTP_RETRIES = env.int("SYNC_HTTP_RETRIES", default=2)
SYNC_HTTP_BACKOFF_SECONDS = env.float("SYNC_HTTP_BACKOFF_SECONDS", default=1.0)
# Seconds to wait after a create that got no definite response (a timeout, a reset, a 5xx)
# before looking for the issue in Gitea and creating it again if it is missing. Gitea may
# still be processing the first request for a while, and a lookup that comes too early
# would create a second issue.
SYNC_CREATE_SETTLE_SECONDS = env.float("SYNC_CREATE_SETTLE_SECONDS", default=120.0)

# --- Admin API -----------------------------------------------------------------------------
# Seconds POST /api/admin/bugsink/sync waits for the run before returning 202. The web
# server's worker timeout must be longer (gunicorn's default is 30 s).
SYNC_API_WAIT_SECONDS = env.float("SYNC_API_WAIT_SECONDS", default=60.0)

REST_FRAMEWORK = {
    # The token class comes first because DRF takes the 401 challenge (WWW-Authenticate) from
    # the first class; the session class alone would make anonymous requests 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "syncapp.authentication.BearerTokenAuthentication",
        "syncapp.authentication.AdminSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["syncapp.permissions.IsStaffUser"],
    # JSON only, because the browsable API would send browsers HTML pages.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "syncapp.api.errors.handle_api_exception",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "bugsink-gitea-sync admin API",
    "DESCRIPTION": "Start a sync run by hand and read the sync's status. Every answer is "
    '{"success": true, "data": ...} or {"success": false, "error": {"code", "message"}}.',
    "VERSION": "1.0.0",
    # OpenAPI 3.1 schemas are JSON Schema, so clients and tests can validate responses with them.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["syncapp.permissions.IsStaffUser"],
}

# --- What is posted to Gitea ---------------------------------------------------------------
# Every text from Bugsink is scrubbed before it is rendered into a Gitea issue (see
# syncapp.scrubbing and the README). Values are validated there and reported by name.
# Names added to the built-in sensitive names (authorization, cookie, password, token, ...).
SCRUB_EXTRA_SENSITIVE_NAMES = env.list("SCRUB_EXTRA_SENSITIVE_NAMES", default=[])
# A JSON list of regular expressions. Every match is replaced.
SCRUB_EXTRA_PATTERNS = env.str("SCRUB_EXTRA_PATTERNS", default="")
# Built-in value patterns to switch off, by name (for example card_number).
SCRUB_DISABLED_PATTERNS = env.list("SCRUB_DISABLED_PATTERNS", default=[])
SCRUB_KEEP_EMAILS = env.str("SCRUB_KEEP_EMAILS", default="false")
SCRUB_KEEP_IP_ADDRESSES = env.str("SCRUB_KEEP_IP_ADDRESSES", default="false")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs every request line at DEBUG, query strings included.
        "urllib3": {"level": "WARNING"},
    },
}
