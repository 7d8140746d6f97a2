"""Django settings for retell's side of the Django benchmarks (django-sqlite, django-postgres).

`retell.django` is the only app: it makes retell's tables. Alias `default` is SQLite,
alias `postgres` the database `retell_bench_django_<pid>`, made and dropped by the benchmark
(`fixtures.django_store`) around every workload.
"""

import fixtures

SECRET_KEY = "benchmarks-only"
USE_TZ = True
INSTALLED_APPS = ["retell.django"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = fixtures.django_databases("retell_bench_django", "retell-bench-django")
