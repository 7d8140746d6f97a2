"""The two forms of the site: register a dog, teach it a trick."""

from __future__ import annotations

from django import forms


class RegisterForm(forms.Form):
    name = forms.CharField(max_length=100, label="Dog's name")


class TrickForm(forms.Form):
    trick = forms.CharField(max_length=100, label="Trick")
