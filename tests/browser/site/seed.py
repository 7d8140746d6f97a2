"""Migrate the browser test's database, add a superuser and some events.

    DJANGO_SETTINGS_MODULE=tests.browser.site.settings RETELL_BROWSER_DB=... \\
        python -m tests.browser.site.seed
"""

from __future__ import annotations

from decimal import Decimal

import django

USERNAME = "admin"
PASSWORD = "retell-browser-test"
DOGS = {
    "Fido": ["sit", "roll over", "play dead"],
    "Rex": ["fetch"],
    "Bella": ["sit", "shake hands"],
    "Luna": [],
    "Max": ["heel", "stay", "speak", "spin"],
}


def main() -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from tests.browser.site.domain import DogSchool, Payments

    call_command("migrate", verbosity=0)
    User.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
    school, payments = DogSchool(), Payments()
    for owner, amounts in [("Ada", ["12.50", "7.25"]), ("Grace", ["100.00"])]:
        payments.open(owner, [Decimal(a) for a in amounts])
    for name in DOGS:
        school.register(name)
    for round_ in range(max(len(tricks) for tricks in DOGS.values())):
        for name, tricks in DOGS.items():
            if round_ < len(tricks):
                school.add_trick(name, tricks[round_])


if __name__ == "__main__":
    main()
