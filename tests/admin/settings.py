"""Django settings for the admin's tests: tests/django's, plus the admin and what it needs.

A superset of tests.django.settings (same databases, same apps, and the admin with
sessions and messages), so that whichever of the two conftests sets Django up
first, both suites run: pytest collects tests/admin first, and Django can be set up
only once per process.
"""

from __future__ import annotations

from tests.django.settings import *  # noqa: F403
from tests.django.settings import INSTALLED_APPS as _STORE_APPS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    *_STORE_APPS,
]
ROOT_URLCONF = "tests.admin.urls"
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]
STATIC_URL = "/static/"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
