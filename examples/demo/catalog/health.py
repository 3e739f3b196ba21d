"""A health check that fails when the `health-500` fault is injected (config/settings.py)."""

import dataclasses

from django.conf import settings
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable


@dataclasses.dataclass
class InjectedFault(HealthCheck):
    def run(self):
        if "health-500" in settings.DEMO_FAULTS:
            raise ServiceUnavailable("injected fault: health-500")
