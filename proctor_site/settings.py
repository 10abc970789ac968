"""Proctor's settings: every value comes from the environment, with a default beside it.

The defaults are the *embedded* set-up that `make demo` runs with nothing else installed:
SQLite, the in-memory channel layer and Celery tasks run in-process. Production differs
only by environment: DATABASE_URL (PostgreSQL), REDIS_URL (Celery broker and channel
layer), storage settings and a real SECRET_KEY.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from proctor_site.env import env_bool, env_int, env_keyring, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PROCTOR_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

# No usable default: without SECRET_KEY the placeholder below is used, which the system
# check `proctor.E001` (proctor_site/checks.py) refuses whenever DEBUG is off, so
# `migrate`, `check --deploy` and the servers' start-up checks stop on it.
INSECURE_SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105
SECRET_KEY = env_secret("SECRET_KEY") or INSECURE_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Ours, from the bottom layer up (README "How the parts fit"; `make lint` enforces it).
    "integrity",
    "audit",
    "exams",
    "privacy",
    "monitoring",
    "reviews",
    "lifecycle",
    "lms",
    "proctor_site",  # the project's own system checks (proctor_site/checks.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "proctor_site.urls"
ASGI_APPLICATION = "proctor_site.asgi.application"
WSGI_APPLICATION = None

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

# Database: SQLite in var/ unless DATABASE_URL names another (postgres://user@host/db).
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
except Exception as exc:  # django-environ raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} cannot be parsed: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default keeps its database in var/; create the folder on first use.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The embedded worker thread writes beside the web thread (monitoring/tasks.py):
    # IMMEDIATE transactions take the write lock up front, so two writers queue on the
    # busy timeout instead of failing with "database is locked"; and tests use a file, as
    # in-memory shared-cache databases refuse concurrent access instead of waiting.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# Persistent connections on PostgreSQL: opening one costs a backend fork on the server and
# ~10 ms here, more than all the queries of a webcam frame (benchmarks/stream_*.py). No
# CONN_HEALTH_CHECKS: they add a "SELECT 1" round trip to every database_sync_to_async
# call and every task. A connection that died (a PostgreSQL restart) fails its next query,
# which tasks retry and sockets answer by closing (the page reconnects), and Django drops
# it at the next close_old_connections().
DATABASES["default"]["CONN_MAX_AGE"] = env_int(
    "DATABASE_CONN_MAX_AGE",
    0 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 60,
    minimum=0,
)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: the Celery broker and the channel layer. Unset means the embedded default.
REDIS_URL = env_str("REDIS_URL", "")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, the same as
            # channels-redis's 5 s BZPOPMIN: on a busy event loop the client gave up first
            # and the consumer crashed ("Timeout reading from …"; benchmarks/stream_ingest).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 1500,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache: shared through Redis when there is one, so that API throttling and LTI's
# login → launch state (lms/lti/) work across processes; per-process memory otherwise.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: at-least-once delivery with idempotent tasks (see monitoring/tasks.py).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
# Webcam frames go as msgpack (raw bytes; base64 inside JSON cost Daphne a third of its
# time per frame). Never pickle: both formats can only describe data.
CELERY_ACCEPT_CONTENT = ["json", "msgpack"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT_S", 120, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT_S", 100, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-overdue-sessions": {
        "task": "exams.expire_overdue_sessions",
        "schedule": env_int("PROCTOR_EXPIRE_EVERY_S", 60, minimum=5),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "exams:my_exams"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Evidence and retained originals: encrypted per session on top of "default".
    "evidence": {
        "BACKEND": "privacy.storage.EncryptedStorage",
        "OPTIONS": {"inner": "default"},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Security. Production runs behind TLS; local development does not.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])
if not SECURE_HSTS_PRELOAD:
    # Preloading is a per-domain decision an operator makes, not a default.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # One error body for every API failure (lms/api/exceptions.py, docs/api.md).
    "EXCEPTION_HANDLER": "lms.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api": env_str("API_THROTTLE_RATE", "600/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Proctor API",
    "DESCRIPTION": "The LMS API of Proctor. Authentication, scopes, errors and webhooks: "
    "docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request components, so required strings say minLength 1 and read-only
    # fields are absent from what a client sends.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from the drf-spectacular-sidecar wheel: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"CheckEnum": "exams.models.Check"},
}
# Webhooks to LMSs (lms/api/tasks.py): seconds to wait for the receiver per attempt.
PROCTOR_WEBHOOK_TIMEOUT_S = env_int("PROCTOR_WEBHOOK_TIMEOUT_S", 10, minimum=1)
# Webhooks go only to https URLs on public internet addresses (lms/api/webhook_targets.py:
# no loopback, private, link-local or metadata addresses). On, it also allows those and
# plain http: for a receiver on your own machine in development, never in production.
PROCTOR_WEBHOOK_ALLOW_PRIVATE = env_bool("PROCTOR_WEBHOOK_ALLOW_PRIVATE", False)
# LTI 1.3 (lms/lti/, docs/lti.md): timeout of calls to the LMS (its JWKS), and how long
# login state and a launch (resumed for deep linking) are kept in the cache.
LTI_HTTP_TIMEOUT_S = env_int("LTI_HTTP_TIMEOUT_S", 10, minimum=1)
LTI_LAUNCH_LIFETIME_S = env_int("LTI_LAUNCH_LIFETIME_S", 3600, minimum=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Proctor: upper bounds the server enforces whatever an exam's policy says.
PROCTOR_MAX_FRAME_BYTES = env_int("PROCTOR_MAX_FRAME_BYTES", 2 * 1024 * 1024, minimum=1024)

# Encryption at rest (privacy/, docs/encryption.md). The key ring is a secret:
# versioned `version:base64key` entries; no usable default. Unset with DEBUG on, a development
# ring is derived from SECRET_KEY; unset with DEBUG off, the check privacy.E001 refuses to start.
PROCTOR_KEYRING = env_keyring("PROCTOR_KEYRING")
PROCTOR_KEYRING_ACTIVE = env_int("PROCTOR_KEYRING_ACTIVE", 0, minimum=0)  # 0: highest version
PROCTOR_DEK_CACHE_S = env_int("PROCTOR_DEK_CACHE_S", 30, minimum=0)
# Break-glass viewing of retained original frames: how long an approved grant lasts.
PROCTOR_BREAK_GLASS_GRANT_MIN = env_int("PROCTOR_BREAK_GLASS_GRANT_MIN", 30, minimum=1)
PROCTOR_RETENTION_BATCH = env_int("PROCTOR_RETENTION_BATCH", 200, minimum=1)
CELERY_BEAT_SCHEDULE["privacy-apply-retention"] = {
    "task": "privacy.apply_retention",
    "schedule": env_int("PROCTOR_RETENTION_EVERY_S", 3600, minimum=60),
}

# Tamper-evident log (integrity/services.py, docs/integrity.md). The signing key is a raw
# 32-byte Ed25519 private key in base64; it signs the checkpoints and seals each row with
# a MAC key derived from it. No usable default: the development key below is refused by
# the system check `proctor.E002` whenever DEBUG is off. Keys retired by a rotation stay
# listed (comma-separated) so that rows and checkpoints they sealed still verify.
INSECURE_INTEGRITY_SIGNING_KEY = "cHJvY3Rvci1kZXYtaW50ZWdyaXR5LWtleS0wMDAwMDA="  # noqa: S105
PROCTOR_INTEGRITY_SIGNING_KEY = (
    env_secret("PROCTOR_INTEGRITY_SIGNING_KEY") or INSECURE_INTEGRITY_SIGNING_KEY
)
PROCTOR_INTEGRITY_RETIRED_KEYS = [
    key.strip()
    for key in (env_secret("PROCTOR_INTEGRITY_RETIRED_KEYS") or "").split(",")
    if key.strip()
]
# The name the checkpoints carry, so a published one cannot be passed off as another log's.
PROCTOR_INTEGRITY_ORIGIN = env_str("PROCTOR_INTEGRITY_ORIGIN", "proctor.localhost/integrity")
# Entries newer than the last checkpoint are not yet anchored (docs/integrity.md): ten
# minutes bounds that window; a checkpoint with nothing new reuses the last one.
PROCTOR_INTEGRITY_CHECKPOINT_INTERVAL_S = env_int(
    "PROCTOR_INTEGRITY_CHECKPOINT_INTERVAL_S", 600, minimum=10
)

# Evidence storage. The embedded default keeps files under MEDIA_ROOT (STORAGES above).
# Set PROCTOR_S3_BUCKET to use an S3-compatible object store (AWS S3, MinIO, Ceph, Garage)
# through django-storages. While it is unreachable, new evidence waits in a local spool,
# sealed under each session's data key, and a Celery task uploads it in order once the
# store is back (monitoring/evidence.py, monitoring/spool.py).
PROCTOR_S3_BUCKET = env_str("PROCTOR_S3_BUCKET", "")
PROCTOR_S3_TIMEOUT_S = env_int("PROCTOR_S3_TIMEOUT_S", 5, minimum=1)
if PROCTOR_S3_BUCKET:
    from botocore.config import Config as _BotoConfig

    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": PROCTOR_S3_BUCKET,
            "endpoint_url": env_str("PROCTOR_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("PROCTOR_S3_REGION", "us-east-1"),
            "access_key": env_secret("PROCTOR_S3_ACCESS_KEY_ID"),
            "secret_key": env_secret("PROCTOR_S3_SECRET_ACCESS_KEY"),
            "default_acl": None,  # private: evidence is served through signed URLs only
            "querystring_auth": True,
            "querystring_expire": env_int("PROCTOR_S3_URL_EXPIRE_S", 300, minimum=1),
            "file_overwrite": True,  # one name per frame: a rewrite is a repeat
            # Fail fast to the spool instead of holding a worker for botocore's retries.
            "client_config": _BotoConfig(
                connect_timeout=PROCTOR_S3_TIMEOUT_S,
                read_timeout=PROCTOR_S3_TIMEOUT_S,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        },
    }
PROCTOR_SPOOL_DIR = Path(env_str("PROCTOR_SPOOL_DIR", str(VAR_DIR / "spool")))
PROCTOR_SPOOL_SYNC_INTERVAL_S = env_int("PROCTOR_SPOOL_SYNC_INTERVAL_S", 30, minimum=1)

# Periodic tasks of the integrity log and the evidence spool (run by `celery beat`).
CELERY_BEAT_SCHEDULE["integrity-checkpoint"] = {
    "task": "reviews.integrity_checkpoint",
    "schedule": PROCTOR_INTEGRITY_CHECKPOINT_INTERVAL_S,
}
CELERY_BEAT_SCHEDULE["evidence-spool-sync"] = {
    "task": "reviews.evidence_spool_sync",
    "schedule": PROCTOR_SPOOL_SYNC_INTERVAL_S,
}
