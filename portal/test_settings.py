"""Settings for the test suite: the normal settings with a throwaway key."""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("STATICFILES_STORAGE", "whitenoise.storage.CompressedStaticFilesStorage")
os.environ.setdefault("EMAIL_URL", "memorymail://")

from portal.settings import *  # noqa: E402,F403
