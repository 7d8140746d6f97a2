"""The Django project of the dog school example: settings, URLs, WSGI."""
