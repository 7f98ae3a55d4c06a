"""Settings for the lab GPU container portal.

Every value that differs between a laptop, CI and a lab's server comes from the
environment (or a `.env` file beside manage.py) through django-environ. A value
that cannot be parsed stops the start with an error naming the variable.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# PORTAL_ENV_FILE names another file, or /dev/null to read none.
environ.Env.read_env(os.environ.get("PORTAL_ENV_FILE", BASE_DIR / ".env"), overwrite=False)


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no setting; anything but the usual words stops the start."""
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")


def env_positive_int(name: str, default: int) -> int:
    """Read an integer setting that must be at least 1."""
    raw = env.str(name, default=str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, got {value}.")
    return value


def env_fraction(name: str, default: float) -> float:
    """Read a float setting that must lie between 0 and 1."""
    raw = env.str(name, default=str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None
    if not 0 <= value <= 1:
        raise ImproperlyConfigured(f"{name} must be between 0 and 1, got {value}.")
    return value


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "accounts",
    "containers",
    "gpus",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/portal"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env_positive_int("DATABASE_CONN_MAX_AGE", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default="redis://127.0.0.1:6379/1"),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "portal_language"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="GPU portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env_positive_int("EMAIL_TIMEOUT", 10)
# Public address of the portal, used in links inside e-mails.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Celery: JSON only, ids as arguments, and late acknowledgement so that a job
# whose worker dies is delivered again instead of being lost.
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "portal"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged message after this many seconds. It must be
# longer than the slowest provisioning job, or a running job is delivered twice
# (the job row's lease makes the second copy stop, but it wastes a worker).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_positive_int("CELERY_VISIBILITY_TIMEOUT", 1800),
}
CELERY_TIMEZONE = TIME_ZONE
# Output that tasks print (the console e-mail back end's, for one) is logged
# at INFO. Celery's default level for it is WARNING.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_BEAT_SCHEDULE: dict = {
    # Requeues provisioning jobs whose worker died (no heartbeat for the lease).
    "resume-stale-jobs": {"task": "containers.tasks.resume_stale_jobs", "schedule": 60.0},
}

# Provisioning.
# Seconds a running job may go without a heartbeat before another delivery may
# take it over; a live worker refreshes the heartbeat at every step.
PROVISIONING_LEASE_SECONDS = env_positive_int("PROVISIONING_LEASE_SECONDS", 300)
PROVISIONING_BOOT_TIMEOUT = env_positive_int("PROVISIONING_BOOT_TIMEOUT", 120)
PROVISIONING_SSH_TIMEOUT = env_positive_int("PROVISIONING_SSH_TIMEOUT", 60)

# GPU monitoring.
NVIDIA_SMI_PATH = env.str("NVIDIA_SMI_PATH", default="/usr/bin/nvidia-smi")
NVIDIA_SMI_TIMEOUT = env_positive_int("NVIDIA_SMI_TIMEOUT", 20)
PROC_ROOT = env.str("PROC_ROOT", default="/proc")
GPU_SAMPLE_INTERVAL = env_positive_int("GPU_SAMPLE_INTERVAL", 30)
GPU_RAW_RETENTION_DAYS = env_positive_int("GPU_RAW_RETENTION_DAYS", 7)
GPU_ROLLUP_RETENTION_DAYS = env_positive_int("GPU_ROLLUP_RETENTION_DAYS", 365)
GPU_IDLE_UTILIZATION_PERCENT = env_positive_int("GPU_IDLE_UTILIZATION_PERCENT", 5)
GPU_IDLE_MINUTES = env_positive_int("GPU_IDLE_MINUTES", 120)
GPU_STALE_SECONDS = env_positive_int("GPU_STALE_SECONDS", 120)
# Beat sends one collect_gpu_samples per collecting host to that host's queue
# (gpu.<host name>), consumed by the worker running on the GPU host.
CELERY_BEAT_SCHEDULE["gpu-dispatch-collection"] = {
    "task": "gpus.tasks.dispatch_gpu_collection",
    "schedule": float(GPU_SAMPLE_INTERVAL),
}
# Rolls complete hours into hourly roll-ups and prunes samples past retention.
CELERY_BEAT_SCHEDULE["gpu-roll-up"] = {"task": "gpus.tasks.roll_up_gpu_samples", "schedule": 600.0}

# E-mail notifications.
# Seconds a pending notification may wait for a worker before a periodic task
# queues it again (its message was lost, or never queued because the process
# died). A worker that claimed a notification this long ago and has not
# finished counts as dead, so the value must be longer than EMAIL_TIMEOUT.
NOTIFICATION_REQUEUE_AFTER_SECONDS = env_positive_int("NOTIFICATION_REQUEUE_AFTER_SECONDS", 300)
if NOTIFICATION_REQUEUE_AFTER_SECONDS <= EMAIL_TIMEOUT:
    raise ImproperlyConfigured(
        f"NOTIFICATION_REQUEUE_AFTER_SECONDS must be longer than EMAIL_TIMEOUT ({EMAIL_TIMEOUT} s), "
        f"got {NOTIFICATION_REQUEUE_AFTER_SECONDS}."
    )
# Maximum number of notifications one run of the task queues again.
NOTIFICATION_REQUEUE_BATCH_SIZE = env_positive_int("NOTIFICATION_REQUEUE_BATCH_SIZE", 100)
CELERY_BEAT_SCHEDULE["requeue-pending-notifications"] = {
    "task": "notifications.tasks.requeue_pending_notifications",
    "schedule": 60.0,
}

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
        # pylxd logs request bodies at DEBUG, which can include pushed files.
        "pylxd": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
