"""The pages. Commands go to the application (events); lists come from the projection.

After a command, a page waits (briefly) until the leaderboard has applied the new
event, so the next page shows it: read-your-writes over an eventually consistent
view. If no worker runs the leaderboard, the wait gives up and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast
from uuid import UUID

from django.apps import apps
from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from dogschool.apps import DogSchoolConfig
from dogschool.domain import Dog, SchoolError, event_data
from dogschool.forms import RegisterForm, TrickForm
from retell.errors import WaitTimeout

WAIT_SECONDS = 2.0


def _config() -> DogSchoolConfig:
    return cast(DogSchoolConfig, apps.get_app_config("dogschool"))


def _command(request: HttpRequest, form: Form, run: Callable[[str], int], done: str) -> bool:
    """Run a command with the form's one field if the form is valid; True if it ran.

    `run` returns the new event's position: the page waits until the leaderboard has
    applied it, so the next page shows it. A refusal goes into the form's errors.
    """
    if request.method != "POST" or not form.is_valid():
        return False
    (field,) = form.fields
    value = form.cleaned_data[field].strip()
    try:
        position = run(value)
    except SchoolError as error:
        form.add_error(field, str(error))
        return False
    try:
        _config().leaderboard.wait(position, timeout=WAIT_SECONDS)
    except WaitTimeout:
        messages.warning(
            request,
            "The leaderboard has not caught up yet: is a worker running it? "
            "(python manage.py run_followers)",
        )
    messages.success(request, done.format(value))
    return True


def home(request: HttpRequest) -> HttpResponse:
    """The leaderboard, and a form to register a dog."""
    config = _config()
    form = RegisterForm(request.POST or None)
    if _command(request, form, config.school.register, "{} is registered."):
        return redirect("dog", dog_id=Dog.create_id(form.cleaned_data["name"].strip()))
    ranking = config.leaderboard.view.ranking()
    return render(request, "dogschool/home.html", {"form": form, "ranking": ranking})


def dog(request: HttpRequest, dog_id: UUID) -> HttpResponse:
    """A dog: its tricks, a form to teach it one, and its history (its events)."""
    school = _config().school
    try:
        found = school.get_dog(dog_id)
    except SchoolError:
        raise Http404("There is no such dog.") from None
    form = TrickForm(request.POST or None)
    if _command(request, form, partial(school.add_trick, dog_id), f"{found.name} learned {{}}."):
        return redirect("dog", dog_id=dog_id)
    history = [
        {
            "version": event.originator_version,
            "type": type(event).__qualname__,
            "timestamp": event.timestamp,
            "data": event_data(event),
        }
        for event in school.history(dog_id)
    ]
    context = {"dog": found, "form": form, "history": history}
    return render(request, "dogschool/dog.html", context)
