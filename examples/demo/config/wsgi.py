"""WSGI entry point for gunicorn (`config.wsgi:application`)."""

import os
import time

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Injected faults (config/settings.py): only the app server imports this module, so
# `manage.py` (migrate, collectstatic) still works and the failure shows after the switch.
if "import-error" in settings.DEMO_FAULTS:
    raise ImportError("injected fault: import-error")
if "slow-start" in settings.DEMO_FAULTS:
    time.sleep(settings.DEMO_SLOW_START_SECONDS)
