"""The one settings module. Everything configurable comes from the environment.

Defaults are the embedded mode used by `make run`: SQLite, a local media directory,
no Redis (a filesystem Celery broker and an in-process channel layer). Production sets
DATABASE_URL, REDIS_URL and a real SECRET_KEY. Importing this module has no side
effects beyond reading the environment.
"""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labeling.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANYMASK_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", default=False)

# Keys that have been published (in this repository or in Django's docs) are as good
# as no key at all: sessions and password-reset tokens could be forged with them.
_DEV_SECRET_KEY = "anymask-insecure-dev-key-do-not-use-in-production"  # noqa: S105
KNOWN_WEAK_SECRET_KEYS = {"", "changeme", "secret", "insecure", _DEV_SECRET_KEY}
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY = env_str("SECRET_KEY")
if (
    SECRET_KEY in KNOWN_WEAK_SECRET_KEYS
    or SECRET_KEY.startswith("django-insecure")
    or len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH
):
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY is missing, shorter than {MIN_SECRET_KEY_LENGTH} characters, or a "
            "published default. Set SECRET_KEY to a long random "
            "value (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "labeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "labeling.middleware.content_security_policy",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "labeling.urls"
ASGI_APPLICATION = "labeling.asgi.application"

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

# --- Database -------------------------------------------------------------------
# The web server and the worker share the file: wait for locks instead of failing at
# once, and use WAL so readers do not block the writer.
_SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = env_str("DATABASE_URL")
# PostgreSQL connections each process may hold (0: no pool, one connection per
# request as before), and how long a request waits for one before it gets a 503.
# Size it so web processes x this + workers stays under the server's max_connections.
ANYMASK_DB_POOL_SIZE = env_int("ANYMASK_DB_POOL_SIZE", 10, minimum=0)
ANYMASK_DB_POOL_TIMEOUT = env_int("ANYMASK_DB_POOL_TIMEOUT", 10, minimum=1)
# HTTP requests each web process handles at once; more wait up to
# ANYMASK_REQUEST_WAIT_SECONDS for a turn, then get 503 with Retry-After.
ANYMASK_MAX_CONCURRENT_REQUESTS = env_int("ANYMASK_MAX_CONCURRENT_REQUESTS", 20, minimum=1)
ANYMASK_REQUEST_WAIT_SECONDS = env_int("ANYMASK_REQUEST_WAIT_SECONDS", 10, minimum=0)
if DATABASE_URL:
    try:
        # conn_max_age=0: under ASGI each request runs in its own thread context, and
        # persistent connections would pile up per thread (Django's docs advise this).
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if _db.get("ENGINE") not in {
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    }:
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL")
    DATABASES = {"default": dict(_db)}
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = _SQLITE_OPTIONS
    elif ANYMASK_DB_POOL_SIZE:
        # One bounded pool per process (psycopg_pool): a request borrows a connection
        # and gives it back, so a burst of requests waits for one instead of opening
        # a server connection each until PostgreSQL refuses them all. A request still
        # waiting after the timeout gets a 503 (labeling/request_gate.py).
        DATABASES["default"]["OPTIONS"] = {
            **_db.get("OPTIONS", {}),
            "pool": {
                "min_size": min(2, ANYMASK_DB_POOL_SIZE),
                "max_size": ANYMASK_DB_POOL_SIZE,
                "timeout": ANYMASK_DB_POOL_TIMEOUT,
            },
        }
        # Django then has the pool check each connection at checkout: one the server
        # ended (a restart, a failover, pg_terminate_backend) is replaced, where it
        # made the next request a 500, and the next socket message an error. One
        # empty round trip per checkout.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "anymask.sqlite3",
            "OPTIONS": _SQLITE_OPTIONS,
            # A file, not Django's default in-memory test database: worker processes
            # spawned by tests must see it, and locks must wait like in production.
            "TEST": {"NAME": str(VAR_DIR / "test-anymask.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True

# Project data is never served from a public /media/ URL: every image goes through
# a view that checks membership first. MEDIA_URL is therefore deliberately unset.
MEDIA_ROOT = Path(env_str("ANYMASK_MEDIA_ROOT") or VAR_DIR / "media")
STORAGES: dict[str, dict[str, object]] = {
    # Local files written whole or not at all (labeling/storage/filesystem.py).
    "default": {"BACKEND": "labeling.storage.filesystem.AtomicFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def s3_storage_options(
    *, bucket: str, endpoint_url: str, access_key: str, secret_key: str, region: str
) -> dict[str, object]:
    """`PrivateS3Storage`'s options (django-storages' S3Storage): also what the tests
    use to point storage at their own S3 server."""
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "region_name": region or None,
        "signature_version": "s3v4",
        # Self-hosted servers (MinIO, SeaweedFS, Ceph) serve buckets by path.
        "addressing_style": "path" if endpoint_url else None,
        # No ACL header: objects stay as private as the bucket (the AWS default), and
        # buckets with ACLs disabled accept the writes.
        "default_acl": None,
        # A taken name gets another, as on the filesystem: an upload that loses a race
        # must never replace (then delete) the winner's object.
        "file_overwrite": False,
        # Reads through storage.open() spool past 8 MB to disk, not all in memory.
        "max_memory_size": 8 * 1024 * 1024,
    }


# Object storage (README "Object storage"): with a bucket named, every stored file
# (images, thumbnails, display copies, embeddings, exports, imports, model files) is
# an object in that private bucket instead of a file under MEDIA_ROOT. Without keys,
# boto3 finds credentials itself (an instance or pod role, ~/.aws).
ANYMASK_S3_BUCKET = env_str("ANYMASK_S3_BUCKET")
ANYMASK_S3_ENDPOINT_URL = env_str("ANYMASK_S3_ENDPOINT_URL")
ANYMASK_S3_ACCESS_KEY_ID = env_str("ANYMASK_S3_ACCESS_KEY_ID")
ANYMASK_S3_SECRET_ACCESS_KEY = env_str("ANYMASK_S3_SECRET_ACCESS_KEY")
ANYMASK_S3_REGION = env_str("ANYMASK_S3_REGION")
if ANYMASK_S3_BUCKET:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", ANYMASK_S3_BUCKET):
        raise ImproperlyConfigured(
            "ANYMASK_S3_BUCKET must be a bucket name: 3-63 lowercase letters, digits, "
            f"dots or hyphens, got {ANYMASK_S3_BUCKET!r}"
        )
    if bool(ANYMASK_S3_ACCESS_KEY_ID) != bool(ANYMASK_S3_SECRET_ACCESS_KEY):
        raise ImproperlyConfigured(
            "Set both ANYMASK_S3_ACCESS_KEY_ID and ANYMASK_S3_SECRET_ACCESS_KEY, or neither "
            "(boto3 then finds credentials itself)"
        )
    if ANYMASK_S3_ENDPOINT_URL and not re.fullmatch(r"https?://[^\s/]+/?", ANYMASK_S3_ENDPOINT_URL):
        raise ImproperlyConfigured(
            "ANYMASK_S3_ENDPOINT_URL must be an http:// or https:// URL with no path, got "
            f"{ANYMASK_S3_ENDPOINT_URL!r}"
        )
    STORAGES["default"] = {
        "BACKEND": "labeling.storage.s3.PrivateS3Storage",
        "OPTIONS": s3_storage_options(
            bucket=ANYMASK_S3_BUCKET,
            endpoint_url=ANYMASK_S3_ENDPOINT_URL,
            access_key=ANYMASK_S3_ACCESS_KEY_ID,
            secret_key=ANYMASK_S3_SECRET_ACCESS_KEY,
            region=ANYMASK_S3_REGION,
        ),
    }
elif ANYMASK_S3_ENDPOINT_URL or ANYMASK_S3_ACCESS_KEY_ID or ANYMASK_S3_SECRET_ACCESS_KEY:
    raise ImproperlyConfigured(
        "ANYMASK_S3_* settings are set but ANYMASK_S3_BUCKET is not: name the bucket, "
        "or unset them to store files under ANYMASK_MEDIA_ROOT"
    )

# --- Upload limits ----------------------------------------------------------------
ANYMASK_MAX_IMAGE_PIXELS = env_int("ANYMASK_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
ANYMASK_MAX_UPLOAD_BYTES = env_int("ANYMASK_MAX_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1)
# Every other request body (forms, JSON) is small; the ASGI guard refuses bigger ones
# before Django spools them to disk.
ANYMASK_MAX_REQUEST_BYTES = env_int("ANYMASK_MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=1024)
# The JSON API's lists (django-ninja's limit/offset pagination): 100 a page unless
# asked, never more than 500.
NINJA_PAGINATION_PER_PAGE = 100
NINJA_PAGINATION_MAX_LIMIT = 500
# Every list pages through this class, which answers 400 for an offset or limit out
# of range (an offset past bigint was an HTML 500).
NINJA_PAGINATION_CLASS = "labeling.api.listing.BoundedLimitOffset"
ANYMASK_ZIP_MAX_MEMBERS = env_int("ANYMASK_ZIP_MAX_MEMBERS", 10_000, minimum=1)
ANYMASK_ZIP_MAX_TOTAL_BYTES = env_int(
    "ANYMASK_ZIP_MAX_TOTAL_BYTES", 4 * 1024 * 1024 * 1024, minimum=1
)
ANYMASK_THUMBNAIL_SIZE = env_int("ANYMASK_THUMBNAIL_SIZE", 320, minimum=16)
# Django spools large uploads to disk past this size; the request itself is bounded
# by ANYMASK_MAX_UPLOAD_BYTES in the upload view.
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

# --- Models, and who may start projects ---------------------------------------------
# The model new projects get, and the specs projects may choose from (registry names,
# hub ids or local checkpoint directories the operator installed); ANYMASK_MODEL is
# always allowed. The default set is the small, fast models (ViT-B is 375 MB, where
# ViT-H is 2.5 GB). Arbitrary paths are never accepted from users.
ANYMASK_MODEL = env_str("ANYMASK_MODEL", "sam-vit-base")
ANYMASK_MODELS = env_list(
    "ANYMASK_MODELS", ["sam-vit-base", "sam2.1-hiera-tiny", "sam2.1-hiera-small"]
)
# Added to ANYMASK_MODELS (kept for configurations written before it existed).
ANYMASK_EXTRA_MODELS = env_list("ANYMASK_EXTRA_MODELS", [])
# Who may create projects: empty (the default) is site staff only; else a comma list
# of usernames (staff may always), or "*" for every logged-in user.
ANYMASK_PROJECT_CREATORS = env_list("ANYMASK_PROJECT_CREATORS", [])
# The web process loads the models of projects with images when it starts (in the
# background), so the first click is as fast as the next.
ANYMASK_WARM_START = env_bool("ANYMASK_WARM_START", True)

# Concept prompts (SAM 3, labeling/jobs/concepts.py): the model (`sam3`, a hub id or a
# local directory; empty turns the feature off everywhere), what a `concepts` worker
# keeps of images' vision features (about 56 MB an image in bf16), and the bounds of
# one query. A socket query not answered within the timeout is told so.
ANYMASK_CONCEPT_MODEL = env_str("ANYMASK_CONCEPT_MODEL", "sam3")
ANYMASK_CONCEPT_CACHE_MB = env_int("ANYMASK_CONCEPT_CACHE_MB", 1024, minimum=0)
ANYMASK_CONCEPT_MAX_PHRASES = env_int("ANYMASK_CONCEPT_MAX_PHRASES", 4, minimum=1)
ANYMASK_CONCEPT_MAX_INSTANCES = env_int("ANYMASK_CONCEPT_MAX_INSTANCES", 100, minimum=1)
ANYMASK_CONCEPT_TIMEOUT_SECONDS = env_int("ANYMASK_CONCEPT_TIMEOUT_SECONDS", 120, minimum=1)

# Embedding leases (labeling/jobs/embedding_lease.py): a worker encoding an image
# renews its lease every third of this; a lease left to expire means the worker died,
# and any worker's sweep (every ANYMASK_EMBEDDING_SWEEP_SECONDS) re-queues the image.
# A dead worker's image is re-run within about LEASE + SWEEP seconds (90 s).
ANYMASK_EMBEDDING_LEASE_SECONDS = env_int("ANYMASK_EMBEDDING_LEASE_SECONDS", 60, minimum=2)
ANYMASK_EMBEDDING_SWEEP_SECONDS = env_int("ANYMASK_EMBEDDING_SWEEP_SECONDS", 30, minimum=1)
# A pending image whose task is this overdue, with nothing waiting in the embeddings
# queue and no lease, lost its task (a broker restarted without persistence): re-queued.
ANYMASK_EMBEDDING_REQUEUE_SECONDS = env_int("ANYMASK_EMBEDDING_REQUEUE_SECONDS", 120, minimum=1)
# Images an embeddings worker encodes together (labeling/jobs/embedding_batch.py):
# 0 picks 8 on a CUDA device and 1 (no batching) on a CPU, which one image saturates.
ANYMASK_EMBED_BATCH = env_int("ANYMASK_EMBED_BATCH", 0, minimum=0)
# For tests only: each encode sleeps this long first, so a test can kill a worker
# mid-encode deterministically. Never set it in production.
ANYMASK_TEST_ENCODE_DELAY_MS = env_int("ANYMASK_TEST_ENCODE_DELAY_MS", 0, minimum=0)

# Job heartbeats (labeling/jobs/job_heartbeat.py): a running export, import, proposal
# run (and every later job kind) touches its row every ANYMASK_JOB_HEARTBEAT_SECONDS.
# A row silent for ANYMASK_JOB_STALE_SECONDS lost its worker: every worker's sweep
# (every ANYMASK_JOB_SWEEP_SECONDS) queues it again once, then fails it.
ANYMASK_JOB_HEARTBEAT_SECONDS = env_int("ANYMASK_JOB_HEARTBEAT_SECONDS", 10, minimum=1)
ANYMASK_JOB_STALE_SECONDS = env_int("ANYMASK_JOB_STALE_SECONDS", 60, minimum=2)
ANYMASK_JOB_SWEEP_SECONDS = env_int("ANYMASK_JOB_SWEEP_SECONDS", 30, minimum=1)
# For tests only: a job sleeps this long once it has taken its row, so a test can kill
# its worker mid-job. Never set it in production.
ANYMASK_TEST_JOB_DELAY_MS = env_int("ANYMASK_TEST_JOB_DELAY_MS", 0, minimum=0)

# A COCO file to import may be this large (parsed whole by the worker: ~10x in memory).
ANYMASK_IMPORT_MAX_BYTES = env_int("ANYMASK_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)

# Machine proposals prompt a grid of this many points per side (SAM's default, 32:
# 1,024 prompts an image); fewer is faster and finds fewer small objects.
ANYMASK_PROPOSAL_POINTS_PER_SIDE = env_int("ANYMASK_PROPOSAL_POINTS_PER_SIDE", 32, minimum=1)
# The evaluator's click budget per object: 20 is the protocol every paper reports
# NoC with; fewer makes a quick check (NoC then counts this budget for a failure).
ANYMASK_EVALUATION_MAX_CLICKS = min(20, env_int("ANYMASK_EVALUATION_MAX_CLICKS", 20, minimum=1))

# "Next image" claims an image for its annotator; a claim nobody has worked under for
# this long is free for the next person (labeling/services/claims.py).
ANYMASK_CLAIM_MINUTES = env_int("ANYMASK_CLAIM_MINUTES", 30, minimum=1)

# --- Labeling websocket (docs/protocol.md) -----------------------------------------
# Decoding runs in this many threads per web process, whatever the number of sockets;
# each socket has at most one prompt decoding and one waiting (the latest wins). One
# thread using every core decodes faster than two sharing them (bench/ws_clicks.py:
# p50 96 ms against 116 ms on 2 cores); scale out with more web processes.
ANYMASK_DECODE_THREADS = env_int("ANYMASK_DECODE_THREADS", 1, minimum=1)
# torch threads for each decode thread; 0 splits the process's cores between them.
ANYMASK_TORCH_THREADS = env_int("ANYMASK_TORCH_THREADS", 0, minimum=0)
# Decoded-ready embeddings kept per web process (about 2 MB stored, ~5 MB in use each).
# The category classifier retrains in the background after this many newly approved
# (categorised) masks; it learns from at most ANYMASK_CLASSIFIER_MAX_MASKS of them.
ANYMASK_CLASSIFIER_RETRAIN_EVERY = env_int("ANYMASK_CLASSIFIER_RETRAIN_EVERY", 50, minimum=1)
ANYMASK_CLASSIFIER_MAX_MASKS = env_int("ANYMASK_CLASSIFIER_MAX_MASKS", 20_000, minimum=10)
ANYMASK_EMBEDDING_CACHE_SIZE = env_int("ANYMASK_EMBEDDING_CACHE_SIZE", 16, minimum=1)
# --- Fine-tuning (labeling/jobs/training.py) ----------------------------------------
# Default and largest time budget of a training run, in seconds (the form's field).
ANYMASK_TRAINING_SECONDS = env_int("ANYMASK_TRAINING_SECONDS", 600, minimum=1)
ANYMASK_TRAINING_MAX_SECONDS = env_int("ANYMASK_TRAINING_MAX_SECONDS", 4 * 3600, minimum=1)
ANYMASK_TRAINING_MAX_STEPS = env_int("ANYMASK_TRAINING_MAX_STEPS", 2000, minimum=1)
ANYMASK_TRAINING_LEARNING_RATE = env_float("ANYMASK_TRAINING_LEARNING_RATE", 3e-4, minimum=0.0)
ANYMASK_TRAINING_MASKS_PER_STEP = env_int("ANYMASK_TRAINING_MASKS_PER_STEP", 4, minimum=1)
# Clicks per held-out object when the gate compares the base and the tuned decoder.
ANYMASK_TRAINING_EVAL_CLICKS = env_int("ANYMASK_TRAINING_EVAL_CLICKS", 20, minimum=1)
# The gate: a tuned decoder is kept when its held-out mIoU@1 beats the base's by at
# least this much, or its NoC@85 is lower by at least ANYMASK_TRAINING_MIN_NOC_DROP.
ANYMASK_TRAINING_MIN_MIOU_GAIN = env_float("ANYMASK_TRAINING_MIN_MIOU_GAIN", 0.01, minimum=0.0)
ANYMASK_TRAINING_MIN_NOC_DROP = env_float("ANYMASK_TRAINING_MIN_NOC_DROP", 0.5, minimum=0.0)
# A run that finds another of its project's runs going waits this long between tries.
ANYMASK_TRAINING_WAIT_SECONDS = env_int("ANYMASK_TRAINING_WAIT_SECONDS", 10, minimum=1)
# Fine-tuned decoders (model versions) kept loaded per process, beside their base
# model's encoder (a SAM decoder is ~16 MB in float32, ~8 MB in bfloat16).
ANYMASK_MODEL_VERSION_CACHE_SIZE = env_int("ANYMASK_MODEL_VERSION_CACHE_SIZE", 4, minimum=1)
ANYMASK_WS_MAX_FRAME_BYTES = env_int("ANYMASK_WS_MAX_FRAME_BYTES", 256 * 1024, minimum=1024)
# Token bucket per connection: RATE messages a second sustained, BURST at once.
ANYMASK_WS_RATE = env_int("ANYMASK_WS_RATE", 30, minimum=1)
ANYMASK_WS_BURST = env_int("ANYMASK_WS_BURST", 60, minimum=1)
# While an image's embedding is not ready its sockets re-read the status this often:
# in embedded mode the worker's events cannot reach the web process.
ANYMASK_WS_EMBEDDING_POLL_MS = env_int("ANYMASK_WS_EMBEDDING_POLL_MS", 1000, minimum=50)
# Every open socket re-checks its session, user and membership this often (one
# indexed query), so access that ends on any web process ends its sockets too.
ANYMASK_WS_RECHECK_MS = env_int("ANYMASK_WS_RECHECK_MS", 1000, minimum=100)

# --- JSON API -----------------------------------------------------------------------
# Requests each token owner may make: "N/s", "N/m", "N/h" or "N/d"; empty: no limit.
ANYMASK_API_RATE = env_str("ANYMASK_API_RATE", "1200/m")
if ANYMASK_API_RATE and not re.fullmatch(r"[1-9][0-9]{0,8}/[smhd]", ANYMASK_API_RATE):
    raise ImproperlyConfigured(
        f"ANYMASK_API_RATE must look like 1200/m (N per s, m, h or d), got {ANYMASK_API_RATE!r}"
    )

# --- Accounts: invitations, email, login throttling (README "Accounts") -----------
# An invitation link opens for this many days; a resend starts the count again.
ANYMASK_INVITATION_DAYS = env_int("ANYMASK_INVITATION_DAYS", 7, minimum=1)
# Email goes out by SMTP when EMAIL_HOST is set. Otherwise messages are printed to
# the server's console (or EMAIL_BACKEND names another backend), and the pages show
# every link for copying, as they always do for invitations.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set at most one of EMAIL_USE_TLS and EMAIL_USE_SSL")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Anymask <anymask@localhost>")
# Password-reset links (Django's own) open for this long.
PASSWORD_RESET_TIMEOUT = env_int("ANYMASK_PASSWORD_RESET_HOURS", 24, minimum=1) * 3600
# Reset emails to one address an hour (three times that asked from one client).
ANYMASK_PASSWORD_RESETS_PER_HOUR = env_int("ANYMASK_PASSWORD_RESETS_PER_HOUR", 3, minimum=1)
# Failed logins allowed per (account, address) before a pause (labeling/login_throttle.py);
# an address may fail 6 times this over all accounts, an account 20 times over all
# addresses. The pause starts at LOCK_SECONDS and doubles with each further failure.
ANYMASK_LOGIN_FAILURES = env_int("ANYMASK_LOGIN_FAILURES", 5, minimum=1)
ANYMASK_LOGIN_LOCK_SECONDS = env_int("ANYMASK_LOGIN_LOCK_SECONDS", 60, minimum=1)
ANYMASK_LOGIN_LOCK_MAX_SECONDS = env_int("ANYMASK_LOGIN_LOCK_MAX_SECONDS", 900, minimum=1)
# Behind a proxy that appends the client's address to X-Forwarded-For, count by it.
ANYMASK_TRUST_X_FORWARDED_FOR = env_bool("ANYMASK_TRUST_X_FORWARDED_FOR", default=False)

# --- Redis, Celery and Channels ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL")


def redis_channel_layer(url: str) -> dict[str, object]:
    """The Channels layer on the Redis at `url` (also used by the restart tests)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    host = {
        "address": url,
        # Every socket waits on Redis with a blocking pop of up to 5 s; redis-py 8
        # reads with a 5 s socket timeout by default, which races it and kills
        # the consumer with TimeoutError. Reads must be allowed to outlast the pop.
        "socket_timeout": 30,
        # After a Redis restart every pooled connection is dead, and redis-py only
        # finds out by failing a command on it: without a retry the first handshake
        # on each web process fails. One retry, on a new connection, at once.
        "retry_on_error": [RedisConnectionError],
    }
    return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}


if REDIS_URL and REDIS_URL.split("://", 1)[0] not in {"redis", "rediss"}:
    # Caught here, not at the first task or websocket, where it would look like an
    # outage. Only the scheme is echoed: the URL may hold a password.
    raise ImproperlyConfigured(
        "REDIS_URL must be a redis:// or rediss:// URL (Celery and Channels both use it), "
        f"got one starting {REDIS_URL.split(':', 1)[0][:12]!r}"
    )
ANYMASK_BROKER_DIR = VAR_DIR / "broker"

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # A message is redelivered if not acked within this time: keep it far above the
        # longest encode so a slow job on a busy GPU is never run twice.
        "visibility_timeout": env_int("ANYMASK_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60),
    }
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    # One cache for every web process, so the API's request budget is shared
    # (labeling/api/throttle.py). Embedded mode keeps Django's in-memory default.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "anymask",
        }
    }
else:
    # Embedded mode: the broker is a directory shared by the web server and the worker.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(ANYMASK_BROKER_DIR / "queue"),
        "data_folder_out": str(ANYMASK_BROKER_DIR / "queue"),
        "processed_folder": str(ANYMASK_BROKER_DIR / "processed"),
        "control_folder": str(ANYMASK_BROKER_DIR / "control"),
        "store_processed": False,
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Queues, each served by workers sized for its work: `embeddings` and `automatic`
# (SAM's 1,024-prompt automatic masks) on GPU machines, `default` (exports, imports)
# on any CPU. Every task names its queue here (labeling/queueing.py sends by name).
CELERY_QUEUE_EMBEDDINGS = env_str("ANYMASK_QUEUE_EMBEDDINGS", "embeddings")
CELERY_QUEUE_AUTOMATIC = env_str("ANYMASK_QUEUE_AUTOMATIC", "automatic")
CELERY_QUEUE_DEFAULT = env_str("ANYMASK_QUEUE_DEFAULT", "default")
# SAM 3 concept queries and Find all jobs: a GPU worker with memory for the model and
# ANYMASK_CONCEPT_CACHE_MB of features.
CELERY_QUEUE_CONCEPTS = env_str("ANYMASK_QUEUE_CONCEPTS", "concepts")
# Fine-tuning the mask decoder (GPU workers in production; `make run`'s worker too).
CELERY_QUEUE_TRAINING = env_str("ANYMASK_QUEUE_TRAINING", "training")
ANYMASK_TASK_QUEUES = {
    "labeling.tasks.compute_embedding": CELERY_QUEUE_EMBEDDINGS,
    "labeling.tasks.auto_segment": CELERY_QUEUE_AUTOMATIC,
    "labeling.tasks.run_proposals": CELERY_QUEUE_AUTOMATIC,
    "labeling.tasks.run_export": CELERY_QUEUE_DEFAULT,
    "labeling.tasks.run_import": CELERY_QUEUE_DEFAULT,
    # Decoder-only work on stored embeddings; a GPU worker can take it over.
    "labeling.tasks.run_evaluation": CELERY_QUEUE_DEFAULT,
    "labeling.tasks.concept_query": CELERY_QUEUE_CONCEPTS,
    "labeling.tasks.run_concepts": CELERY_QUEUE_CONCEPTS,
    "labeling.tasks.train_classifier": CELERY_QUEUE_TRAINING,
    "labeling.tasks.run_training": CELERY_QUEUE_TRAINING,
}
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_ROUTES = {name: {"queue": queue} for name, queue in ANYMASK_TASK_QUEUES.items()}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True

# --- Security ---------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # page scripts read the token from the rendered form
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Off by default because `make run` serves plain HTTP on 127.0.0.1; turn on behind TLS.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from
# clients), trust it so Django knows requests are HTTPS.
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REFERRER_POLICY = "same-origin"

# Bearer token for /metrics; without one, only loopback clients get the figures.
ANYMASK_METRICS_TOKEN = env_str("ANYMASK_METRICS_TOKEN")
# /readyz needs no login and writes a probe object through the media storage (a PUT
# on S3): a round trip that succeeded is trusted for this long, per process, so a
# flood of probes cannot become a flood of writes. 0 probes every time.
ANYMASK_READYZ_STORAGE_SECONDS = env_int("ANYMASK_READYZ_STORAGE_SECONDS", 15, minimum=0)

# json: one JSON object a line (for a log collector); text: the message, prefixed
# with its request or socket id. Both carry the ids (labeling/log_context.py).
ANYMASK_LOG_FORMAT = env_str("ANYMASK_LOG_FORMAT", "text").lower()
if ANYMASK_LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(
        f"ANYMASK_LOG_FORMAT must be json or text, got {ANYMASK_LOG_FORMAT!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "quiet_forbidden": {"()": "labeling.log_filters.QuietForbidden"},
        "context_ids": {"()": "labeling.log_filters.WithContextIds"},
    },
    "formatters": {
        "json": {"()": "labeling.log_format.JsonLines"},
        "text": {"()": "labeling.log_format.TextWithIds"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["quiet_forbidden", "context_ids"],
            "formatter": ANYMASK_LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
