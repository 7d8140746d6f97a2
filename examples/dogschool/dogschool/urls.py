"""The school's pages: the leaderboard (with registration) and each dog's page."""

from django.urls import path

from dogschool import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dogs/<uuid:dog_id>/", views.dog, name="dog"),
]
