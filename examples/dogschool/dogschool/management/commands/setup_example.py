"""``manage.py setup_example``: migrate, then add the sample dogs and the admin user.

Safe to run again: what exists already is left alone, so a second run adds nothing.
The superuser is admin / admin, for this example only.
"""

from __future__ import annotations

from typing import Any, cast

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from dogschool.apps import DogSchoolConfig
from dogschool.domain import Dog

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # an example's password: never do this on a real site

SAMPLE_DOGS = {
    "Fido": ["sit", "roll over", "play dead"],
    "Bella": ["sit", "paw", "spin", "fetch"],
    "Rex": ["sit", "fetch"],
    "Luna": [],
}


class Command(BaseCommand):
    help = "Migrate, then add sample dogs and the superuser admin/admin (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        school = cast(DogSchoolConfig, apps.get_app_config("dogschool")).school
        added = []
        for name, tricks in SAMPLE_DOGS.items():
            if Dog.create_id(name) in school.repository:
                continue
            school.register(name)
            for trick in tricks:
                school.add_trick(Dog.create_id(name), trick)
            added.append(name)
        self.stdout.write(
            f"Sample dogs added: {', '.join(added)}." if added else "Sample dogs: there already."
        )
        user_model: Any = get_user_model()
        if user_model.objects.filter(username=ADMIN_USERNAME).exists():
            self.stdout.write(f"Superuser {ADMIN_USERNAME!r}: there already.")
        else:
            user_model.objects.create_superuser(
                ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.com", ADMIN_PASSWORD
            )
            self.stdout.write(f"Superuser added: {ADMIN_USERNAME} / {ADMIN_PASSWORD}.")
