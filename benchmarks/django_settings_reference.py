"""Django settings for the reference's side of the Django benchmarks: eventsourcing-django.

`eventsourcing_django` is the only app: it makes the reference's tables. The databases
are configured as retell's side configures its own (same options), apart from the names:
alias `default` is SQLite, alias `postgres` the database `eventsourcing_bench_django_<pid>`.
"""

import fixtures

SECRET_KEY = "benchmarks-only"
USE_TZ = True
INSTALLED_APPS = ["eventsourcing_django"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = fixtures.django_databases("eventsourcing_bench_django", "eventsourcing-bench-django")
