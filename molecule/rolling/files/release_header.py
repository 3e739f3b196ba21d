"""Django middleware of the rolling scenario: X-Release names the release that answered.

prepare.yml adds it to each copy of the demo project (examples/ stays untouched), so the load
generator can tell which release served each request: `<VERSION label>/<release id>`.
"""

from pathlib import Path

_TOP = Path(__file__).resolve().parent
_LABEL = (_TOP / "VERSION").read_text(encoding="utf-8").strip() if (_TOP / "VERSION").exists() else "-"
# The project runs from releases/<id>/ (resolved through `current`).
RELEASE = f"{_LABEL}/{_TOP.name}"


class ReleaseHeaderMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Release"] = RELEASE
        return response
