"""Modelgate settings: the only settings module, read from the environment.

Every variable is listed with its default in ``.env.example``. A ``.env`` file at
the project root is read when present (``DOTENV_PATH`` names another file; set it
empty to read none, as the tests do); real environment variables win. Any
variable may instead be given as ``<NAME>_FILE`` pointing at a file holding the
value (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Lets Django's generic classes take type arguments at runtime too (class
# ProviderForm(forms.ModelForm[Provider])), as django-stubs declares them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.FileAwareEnv()
# Unset: the project's .env (bin/run writes one). Empty: no file at all, so a
# developer's .env never changes what the tests (tests/testenv.py) configure.
DOTENV_PATH = os.environ.get("DOTENV_PATH", str(BASE_DIR / ".env"))
if DOTENV_PATH and Path(DOTENV_PATH).is_file():
    env.read_env(DOTENV_PATH, overwrite=False)

DEFAULT_SECRET_KEY = "insecure-dev-only-secret-key-change-me"

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Envelope encryption of credentials (providers/crypto.py): a comma-separated list
# of "key-id:base64-32-byte-key"; the first wraps new values, all unwrap.
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[])
# Optional AWS KMS key (id, ARN or alias) that wraps data keys instead.
CREDENTIALS_KMS_KEY_ID = env.str("CREDENTIALS_KMS_KEY_ID", default="")
CREDENTIALS_KMS_REGION = env.str("CREDENTIALS_KMS_REGION", default="")
CREDENTIALS_KMS_ENDPOINT_URL = env.str("CREDENTIALS_KMS_ENDPOINT_URL", default="")

if not DEBUG:
    if SECRET_KEY == DEFAULT_SECRET_KEY or not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE), "
            "or DEBUG=true for local development."
        )
    if not CREDENTIALS_KEYS and not CREDENTIALS_KMS_KEY_ID:
        raise ImproperlyConfigured(
            "No credentials encryption key. Set CREDENTIALS_KEYS "
            "(generate one with: DEBUG=true python manage.py generate_credentials_key) "
            "or CREDENTIALS_KMS_KEY_ID, or DEBUG=true for local development."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # The management API's OpenAPI schema and its documentation page, whose
    # Swagger UI assets are vendored by the sidecar package (no CDN).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "accounts",
    "providers",
    "models_catalog",
    "gateway",
    "bootstrap",
    "portal",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app itself, in every mode (no web server needed in
    # front): compressed, hashed names with far-future cache headers.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into its answer.
    "axes.middleware.AxesMiddleware",
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
ASGI_APPLICATION = "config.asgi.application"

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'modelgate.sqlite3'}"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="modelgate"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out sign-in before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Outgoing email (password resets, invitations): EMAIL_URL as django-environ
# reads it. The console by default (printed by the web process); in production
# smtp+tls://user:password@host:587 (or smtps:// for TLS from the start).
# filemail:////absolute/folder writes each message to a file there (four
# slashes for an absolute path; the browser tests read their mail this way).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Modelgate <modelgate@localhost>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Days an emailed invitation link stays valid (single use, revocable).
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=7)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# A name missing from the manifest (collectstatic not run: the test suite) is
# served under its plain name instead of failing the page.
WHITENOISE_MANIFEST_STRICT = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Outbound HTTP to providers (providers/http.py).
PROVIDERS_ALLOW_PRIVATE_IPS = env.bool("PROVIDERS_ALLOW_PRIVATE_IPS", default=DEBUG)
# Caller-supplied image URLs (providers/drivers/images.py) never reach private
# addresses, whatever PROVIDERS_ALLOW_PRIVATE_IPS says; these bound each fetch.
IMAGE_FETCH_MAX_BYTES = env.int("IMAGE_FETCH_MAX_BYTES", default=20 * 1024 * 1024)
IMAGE_FETCH_TIMEOUT = env.float("IMAGE_FETCH_TIMEOUT", default=10.0)
# Tests only: let image URLs reach loopback (127.0.0.0/8, ::1). Never in production.
IMAGE_FETCH_ALLOW_LOOPBACK = env.bool("IMAGE_FETCH_ALLOW_LOOPBACK", default=False)

# The starter model (providers/starter.py): a platform OpenAI key org admins can
# put to use in one click, without ever seeing it. Unset: no starter offered.
STARTER_OPENAI_API_KEY = env.str("STARTER_OPENAI_API_KEY", default="")
STARTER_OPENAI_BASE_URL = env.str(
    "STARTER_OPENAI_BASE_URL", default="https://api.openai.com/v1"
)
STARTER_MODEL = env.str("STARTER_MODEL", default="gpt-4o-mini")

# A bootstrap file (manage.py bootstrap) applied by the run command at start-up.
BOOTSTRAP_FILE = env.str("BOOTSTRAP_FILE", default="")

# Celery (config/celery.py). Without REDIS_URL: a filesystem broker, no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL or not CELERY_BROKER_URL.startswith("filesystem")
    else {
        "data_folder_in": str(DATA_DIR / "broker"),
        "data_folder_out": str(DATA_DIR / "broker"),
        "processed_folder": str(DATA_DIR / "broker-processed"),
        "control_folder": str(DATA_DIR / "broker-control"),
    }
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=90)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Nothing reads task results; storing them would keep failures' messages and
# tracebacks in Redis. Opt in with CELERY_TASK_IGNORE_RESULT=false.
CELERY_TASK_IGNORE_RESULT = env.bool("CELERY_TASK_IGNORE_RESULT", default=True)
CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED = False
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=3600)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # request_id: the /v1 call the line is about, or "-" (gateway/request_ids.py).
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        }
    },
    "filters": {
        "request_id": {"()": "gateway.request_ids.RequestIdFilter"},
        # An answered 4xx (404, 403, 400) logs one line, never a traceback; a
        # relayed vendor failure (502-504) is a WARNING (config/logfilters.py).
        "client_errors": {"()": "config.logfilters.ClientErrorsWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": LOG_LEVEL, "propagate": True},
        # On the logger too, so every handler (not only the console) gets the
        # record as the filter leaves it; django.security.* reach it above.
        "django.request": {"filters": ["client_errors"], "propagate": True},
        # One INFO line per upstream call is a cost on the gateway's hot path.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Their DEBUG lines print signed request headers, session tokens
        # included, whatever LOG_LEVEL says (tests/gateway/test_secrets_matrix.py).
        **{
            name: {"level": "WARNING"}
            for name in ("botocore", "boto3", "urllib3", "s3transfer")
        },
    },
}

# Browser security (Django's SecurityMiddleware and cookies). Cookies are Secure
# unless DEBUG: browsers keep Secure cookies on http://localhost and 127.0.0.1,
# so bin/run still signs in over plain HTTP there. HSTS and the HTTPS redirect
# are opt-in because they break a deployment that is not (yet) behind TLS; the
# README lists the production values under which `check --deploy` is clean.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = env.bool("SESSION_COOKIE_HTTPONLY", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# "HTTP_X_FORWARDED_PROTO,https" behind a TLS-terminating proxy that always sets
# (and never passes through) that header; unset otherwise.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', "
        "e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("SECURE_CONTENT_TYPE_NOSNIFF", default=True)
X_FRAME_OPTIONS = env.str("X_FRAME_OPTIONS", default="DENY")
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
# Content-Security-Policy (django-csp): every page uses only its own vendored
# assets, no inline script or style (the admin has none either).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The client's address is read from X-Forwarded-For only behind this many
# trusted proxies that append to it (accounts/network.py); 0 = the peer address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Sign-in guesses (django-axes, database-backed, so it holds across replicas with
# or without Redis; the policy is accounts/signin_throttle.py). Within
# LOGIN_LOCKOUT_MINUTES, sign-in locks for that long after LOGIN_FAILURE_LIMIT
# failures for one username from one address, LOGIN_ADDRESS_FAILURE_LIMIT from
# one address (any usernames) or LOGIN_USERNAME_FAILURE_LIMIT for one username
# (any addresses: high, as anyone can lock a real user out with it). From half
# of a limit on, each further attempt waits LOGIN_SLOWDOWN_SECONDS, doubling.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_USERNAME_FAILURE_LIMIT = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=50)
LOGIN_SLOWDOWN_SECONDS = env.float("LOGIN_SLOWDOWN_SECONDS", default=1.0)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address", "username"]
AXES_HANDLER = "accounts.signin_throttle.SigninThrottle"
AXES_RESET_ON_SUCCESS = True
# A refused attempt is not counted, so waiting out a lock or a slowdown works.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.network.request_client_address"
AXES_LOCKOUT_CALLABLE = "accounts.signin_throttle.lockout_response"
AXES_VERBOSE = False
# Masked in the failed attempts axes stores: "next" may carry an invitation's
# link (/accounts/login/?next=/invitations/<token>/).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "next"]

# Password reset links expire after this many seconds (Django's default is
# three days; an hour is enough to read a mail and limits a leaked link).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

# Gateway caches (gateway/state.py): every key and route entry is reloaded after
# this many seconds, so any change, by any path, reaches every replica in time.
GATEWAY_CACHE_TTL = env.float("GATEWAY_CACHE_TTL", default=1.0)
if not 0 < GATEWAY_CACHE_TTL <= 1.5:
    raise ImproperlyConfigured(
        "GATEWAY_CACHE_TTL must be more than 0 and at most 1.5 seconds, so that "
        "revocations take effect within 2 seconds."
    )
# Failed API-key authentications per client address (gateway/throttle.py): past
# the limit within a window, unknown keys get a 429 without a database lookup.
GATEWAY_AUTH_FAILURE_LIMIT = env.int("GATEWAY_AUTH_FAILURE_LIMIT", default=30)
GATEWAY_AUTH_FAILURE_WINDOW = env.int("GATEWAY_AUTH_FAILURE_WINDOW", default=60)

DATA_DIR.mkdir(parents=True, exist_ok=True)
for _folder in CELERY_BROKER_TRANSPORT_OPTIONS.values():
    Path(_folder).mkdir(parents=True, exist_ok=True)

# Seconds between writes of buffered usage records (gateway/usage.py).
USAGE_FLUSH_INTERVAL = env.float("USAGE_FLUSH_INTERVAL", default=1.0)
# Where each gateway process journals usage records before answering, so a
# killed process loses none (gateway/journal.py). Must survive a restart of the
# process: in containers, a persistent volume.
USAGE_JOURNAL_DIR = Path(
    env.str("USAGE_JOURNAL_DIR", default="") or DATA_DIR / "usage-journal"
)
# Who writes the journaled usage records to the database: "process", a writer
# process each gateway process starts (gateway/usage_writer.py), so building
# the rows never competes with the event loop for the GIL; or "thread", a
# thread of the gateway process itself.
USAGE_WRITER = env.str("USAGE_WRITER", default="process")
if USAGE_WRITER not in ("process", "thread"):
    raise ImproperlyConfigured(
        f"USAGE_WRITER must be 'process' or 'thread', not {USAGE_WRITER!r}."
    )
USAGE_RECOVERY_INTERVAL = env.int("USAGE_RECOVERY_INTERVAL", default=60)
# Seconds between beat's runs of the hourly usage rollups the dashboards read
# (gateway/rollup.py); the hours since the last run are read raw meanwhile.
USAGE_ROLLUP_INTERVAL = env.int("USAGE_ROLLUP_INTERVAL", default=60)
# Days a stored Responses API answer (and its input) is kept for
# previous_response_id, retrieval and listing; beat deletes it after that
# (gateway/response_store.py).
RESPONSES_RETENTION_DAYS = env.int("RESPONSES_RETENTION_DAYS", default=30)
if RESPONSES_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("RESPONSES_RETENTION_DAYS must be at least 1 (days).")

# Gateway and Redis faults (gateway/state.py, gateway/limits.py). Each Redis
# call fails within the timeout; after a failure Redis is skipped for the
# breaker's seconds. While Redis is unreachable, limits fail "open" (admit, log
# a warning) or "closed" (503 with Retry-After).
GATEWAY_REDIS_TIMEOUT = env.float("GATEWAY_REDIS_TIMEOUT", default=0.25)
GATEWAY_REDIS_BREAKER_SECONDS = env.float("GATEWAY_REDIS_BREAKER_SECONDS", default=1.0)
GATEWAY_LIMITS_ON_REDIS_ERROR = env.str("GATEWAY_LIMITS_ON_REDIS_ERROR", default="open")
if GATEWAY_LIMITS_ON_REDIS_ERROR not in ("open", "closed"):
    raise ImproperlyConfigured("GATEWAY_LIMITS_ON_REDIS_ERROR must be open or closed.")
# The length of a "minute" for requests-per-minute caps (sliding window). Only
# tests shorten it.
GATEWAY_LIMIT_WINDOW_SECONDS = env.float("GATEWAY_LIMIT_WINDOW_SECONDS", default=60.0)
# Budgets (gateway/budgets/): a call reserves its estimated cost before it runs.
# A generation that names no output cap (max_tokens and kin) is estimated at
# this many output tokens; the reservation settles to the real cost after.
GATEWAY_BUDGET_OUTPUT_TOKENS = env.int("GATEWAY_BUDGET_OUTPUT_TOKENS", default=1024)
# After Redis lost its data, the first rebuild of a budget counter waits this
# many seconds for every replica's buffered usage to reach the database
# (default: 1.5 usage flush intervals, at most 10 s; 0 skips the wait).
GATEWAY_BUDGET_REBUILD_WAIT = env.float("GATEWAY_BUDGET_REBUILD_WAIT", default=None)
# Budget counters in Redis are corrected from the usage records every this
# many seconds (gateway/budgets/reconcile.py), for everything older than the lag.
BUDGET_RECONCILE_INTERVAL = env.int("BUDGET_RECONCILE_INTERVAL", default=60)
BUDGET_RECONCILE_LAG_SECONDS = env.float("BUDGET_RECONCILE_LAG_SECONDS", default=90.0)
# Spend alerts (gateway/budgets/tasks.py), in seconds: budget thresholds and
# spikes are checked this often; the daily digest is looked at this often and
# sent once per UTC day. A spike needs at least this much spend (USD) in the
# hour. Webhooks time out after BUDGET_WEBHOOK_TIMEOUT and are retried up to
# BUDGET_WEBHOOK_MAX_RETRIES times, BUDGET_WEBHOOK_RETRY_BACKOFF s apart, doubling.
BUDGET_ALERT_INTERVAL = env.int("BUDGET_ALERT_INTERVAL", default=60)
BUDGET_DIGEST_INTERVAL = env.int("BUDGET_DIGEST_INTERVAL", default=3600)
BUDGET_SPIKE_MIN_SPEND = env.float("BUDGET_SPIKE_MIN_SPEND", default=1.0)
BUDGET_WEBHOOK_TIMEOUT = env.float("BUDGET_WEBHOOK_TIMEOUT", default=10.0)
BUDGET_WEBHOOK_RETRY_BACKOFF = env.int("BUDGET_WEBHOOK_RETRY_BACKOFF", default=30)
BUDGET_WEBHOOK_MAX_RETRIES = env.int("BUDGET_WEBHOOK_MAX_RETRIES", default=6)

# Outbound transport for provider calls: "aiohttp" (default) or "httpx".
PROVIDERS_HTTP_TRANSPORT = env.str("PROVIDERS_HTTP_TRANSPORT", default="aiohttp")

# Background checks (providers/tasks.py, models_catalog/tasks.py), in seconds.
HEALTH_CHECK_INTERVAL = env.int("HEALTH_CHECK_INTERVAL", default=300)
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=20.0)
DISCOVERY_INTERVAL = env.int("DISCOVERY_INTERVAL", default=3600)
DISCOVERY_TIMEOUT = env.float("DISCOVERY_TIMEOUT", default=60.0)
CELERY_BEAT_SCHEDULE = {
    # Each run expires before the next is due, so a backlog never piles up.
    "check-all-providers": {
        "task": "providers.check_all_providers",
        "schedule": HEALTH_CHECK_INTERVAL,
        "options": {"expires": HEALTH_CHECK_INTERVAL * 0.9},
    },
    "discover-all-models": {
        "task": "models_catalog.discover_all",
        "schedule": DISCOVERY_INTERVAL,
        "options": {"expires": DISCOVERY_INTERVAL * 0.9},
    },
    # Usage journals of gateway processes that died (gateway/journal.py).
    "recover-usage-journals": {
        "task": "gateway.recover_usage_journals",
        "schedule": USAGE_RECOVERY_INTERVAL,
        "options": {"expires": USAGE_RECOVERY_INTERVAL * 0.9},
    },
    # Hourly usage rollups for the dashboards (gateway/rollup.py).
    "roll-up-usage": {
        "task": "gateway.roll_up_usage",
        "schedule": USAGE_ROLLUP_INTERVAL,
        "options": {"expires": USAGE_ROLLUP_INTERVAL * 0.9},
    },
    # Budget counters corrected from the usage records (gateway/budgets/).
    "reconcile-budgets": {
        "task": "gateway.reconcile_budgets",
        "schedule": BUDGET_RECONCILE_INTERVAL,
        "options": {"expires": BUDGET_RECONCILE_INTERVAL * 0.9},
    },
    # Budget thresholds and spend spikes (gateway/budgets/alerts.py, spikes.py).
    "check-budget-alerts": {
        "task": "budgets.check_alerts",
        "schedule": BUDGET_ALERT_INTERVAL,
        "options": {"expires": BUDGET_ALERT_INTERVAL * 0.9},
    },
    # The opt-in daily digest, sent once per UTC day (gateway/budgets/digest.py).
    "send-spend-digests": {
        "task": "budgets.send_digests",
        "schedule": BUDGET_DIGEST_INTERVAL,
        "options": {"expires": BUDGET_DIGEST_INTERVAL * 0.9},
    },
    # Stored responses past RESPONSES_RETENTION_DAYS (gateway/response_store.py).
    "expire-stored-responses": {
        "task": "gateway.expire_stored_responses",
        "schedule": 3600,
        "options": {"expires": 3600 * 0.9},
    },
}

# Request body limits of /v1 (bytes), checked before the body is read (declared
# Content-Length) and while it streams in (chunked): 413 beyond. Chat carries
# base64 images (OpenAI accepts up to 20 MB per image); embeddings are text
# (OpenAI caps a request at 300k tokens, about 2 MB as JSON token arrays).
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=20 * 1024 * 1024)
GATEWAY_MAX_EMBEDDINGS_BODY_BYTES = env.int(
    "GATEWAY_MAX_EMBEDDINGS_BODY_BYTES", default=4 * 1024 * 1024
)
# Routes that take no body (GET /v1/models) accept this much and no more.
GATEWAY_MAX_OTHER_BODY_BYTES = env.int(
    "GATEWAY_MAX_OTHER_BODY_BYTES", default=64 * 1024
)

# Browser origins allowed to call /v1 (CORS), e.g. "https://app.example.com";
# "*" allows any. None by default: no response carries a CORS header.
GATEWAY_CORS_ALLOWED_ORIGINS = [
    origin.strip().rstrip("/").lower()
    for origin in env.list("GATEWAY_CORS_ALLOWED_ORIGINS", default=[])
    if origin.strip()
]
for _origin in GATEWAY_CORS_ALLOWED_ORIGINS:
    _scheme, _sep, _host = _origin.partition("://")
    if _origin != "*" and (
        _scheme not in ("http", "https") or not _host or set("/?#@ ") & set(_host)
    ):
        raise ImproperlyConfigured(
            f"GATEWAY_CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin "
            "(scheme://host[:port]) or *."
        )

# The management API (/api/v1/, app ``api``): management tokens or the site's
# session (with CSRF), limit/offset pages, an OpenAPI 3.1 schema.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ManagementTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelgate management API",
    "DESCRIPTION": "Providers, models, grants, API keys and usage of your "
    "organizations: everything an organization admin does in the admin.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its page are public: they describe the API, hold no data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "HealthEnum": "providers.models.Provider.Health",
        "MembershipRoleEnum": "accounts.models.Membership.Role",
        "TokenRoleEnum": "api.models.ManagementToken.Role",
    },
}
