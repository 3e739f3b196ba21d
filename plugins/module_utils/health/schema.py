# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of a health configuration, in pure Python, before any check runs.

Every error names the check and the option, and all errors of a list are reported at once.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SEVERITIES = ("critical", "warning")
DEFAULT_TIMEOUT = 10.0
NAME_RE = re.compile(r"^[A-Za-z0-9_.@:-]{1,100}$")
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B?|B)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class Problem(str):
    """An error message that also knows where in the check list it is ('[2].http.url')."""

    def __new__(cls, text, path=""):
        problem = super().__new__(cls, text)
        problem.path = path
        return problem


class ValidationError(ValueError):
    """Bad input; `errors` lists every problem found."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class Check:
    name: str
    type: str
    severity: str
    timeout: float
    options: dict
    # The systemd units behind the check: a transient failure is definitive when one is down.
    units: tuple = ()


@dataclass(frozen=True)
class Config:
    checks: list
    within: float = 0.0
    delay: float = 2.0
    concurrency: int = 8
    fail_on_unknown: bool = True
    secrets: set = field(default_factory=set)


# Converters: value -> normalised value, or ValueError with a short reason.
def _str(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a string")
    value = str(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return value.lower() in ("yes", "true", "on", "1")
    raise ValueError("must be a boolean")


def _int(value):
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None


def _positive(value):
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _non_negative(value):
    if value in (0, "0"):
        return 0.0
    return _positive(value)


def _port(value):
    port = _int(value)
    if not 1 <= port <= 65535:
        raise ValueError("must be a port between 1 and 65535, got %d" % port)
    return port


def _abs_path(value):
    value = _str(value)
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


def _regex(value):
    value = _str(value)
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError("is not a valid regular expression: %s" % exc) from None
    return value


def _url(value):
    value = _str(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not echoed: a URL may carry a password.
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def _statuses(value):
    values = value if isinstance(value, list) else [value]
    statuses = [_int(v) for v in values]
    if not statuses or any(not 100 <= s <= 599 for s in statuses):
        raise ValueError("must be HTTP status codes between 100 and 599")
    return statuses


def _str_list(value):
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of strings")
    return [_str(v) for v in value]


def _umask(value):
    """'0027' or 23 (YAML reads 0027 as octal) -> 0o027."""
    if isinstance(value, bool):
        raise ValueError("must be an octal umask such as '0027'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.match(r"^0?[0-7]{3}$", value):
        number = int(value, 8)
    else:
        raise ValueError("must be an octal umask such as '0027'")
    if not 0 <= number <= 0o777:
        raise ValueError("must be an octal umask such as '0027'")
    return number


def _units(value):
    """'app.service' or a list of units -> tuple."""
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        return ()
    return tuple(_str(v) for v in values)


def _str_dict(value):
    if not isinstance(value, dict):
        raise ValueError("must be a dictionary")
    return {_str(k): _str(v) for k, v in value.items()}


def _regex_dict(value):
    return {k: _regex(v) for k, v in _str_dict(value).items()}


def _scalar_dict(value):
    if not isinstance(value, dict) or not value:
        raise ValueError("must be a non-empty dictionary of path: value")
    for v in value.values():
        if isinstance(v, (dict, list)):
            raise ValueError("values must be scalars (string, number, boolean or null)")
    return {_str(k): v for k, v in value.items()}


def _size(value):
    """'10%' -> ('percent', 10.0); '2G' / 2147483648 -> ('bytes', 2147483648)."""
    match = SIZE_RE.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError("must be a percentage ('10%') or a size ('500M', '2G', bytes)")
    number, unit = float(match.group(1)), (match.group(2) or "").upper()
    if unit == "%":
        if number > 100:
            raise ValueError("must be a percentage up to 100")
        return ("percent", number)
    return ("bytes", int(number * SIZE_UNITS[unit[:1]]))


def _bytes(value):
    kind, amount = _size(value)
    if kind != "bytes":
        raise ValueError("must be a size, not a percentage")
    return amount


def _choice(*choices):
    def convert(value):
        value = _str(value)
        if value not in choices:
            raise ValueError("must be one of %s, got %r" % (", ".join(choices), value))
        return value

    return convert


@dataclass(frozen=True)
class Opt:
    convert: object
    required: bool = False
    default: object = None
    secret: bool = False


SCHEMA = {
    "http": {
        "url": Opt(_url, required=True),
        "method": Opt(_choice("GET", "HEAD", "POST", "PUT", "OPTIONS"), default="GET"),
        "status": Opt(_statuses, default=[200]),
        "body_regex": Opt(_regex),
        "json": Opt(_scalar_dict),
        "host": Opt(_str),
        "headers": Opt(_str_dict, default={}),
        "expect_headers": Opt(_regex_dict, default={}),
        "max_latency": Opt(_positive),
        "validate_certs": Opt(_bool, default=True),
        "ca_path": Opt(_abs_path),
        "follow_redirects": Opt(_bool, default=False),
    },
    "tcp": {
        "host": Opt(_str, required=True),
        "port": Opt(_port, required=True),
        "banner": Opt(_regex),
    },
    "postgres": {
        "host": Opt(_str),
        "port": Opt(_port, default=5432),
        "dbname": Opt(_str, default="postgres"),
        "user": Opt(_str),
        "password": Opt(_str, secret=True),
        "sslmode": Opt(_choice("disable", "allow", "prefer", "require", "verify-ca", "verify-full")),
        "query": Opt(_str, default="SELECT 1"),
        "expected": Opt(_str),
        "write": Opt(_bool, default=False),
    },
    "disk": {
        "path": Opt(_abs_path, required=True),
        "warn_free": Opt(_size),
        "min_free": Opt(_size),
        "min_free_inodes": Opt(_size),
    },
    "systemd": {
        "unit": Opt(_str, required=True),
        "active": Opt(_bool, default=True),
        "enabled": Opt(_bool),
        "min_uptime": Opt(_positive),
        "observe": Opt(_non_negative, default=2.0),
    },
    "cron": {
        "job": Opt(_str, required=True),
        "state_dir": Opt(_abs_path, default="/var/lib/vitals/cron"),
        "config_dir": Opt(_abs_path, default="/etc/vitals/cron/jobs"),
        "max_age": Opt(_positive),
        "max_running": Opt(_positive),
        "require_success": Opt(_bool, default=True),
    },
    "backup": {
        "dir": Opt(_abs_path),
        "app": Opt(_str),
        "prefix": Opt(_str, default="db"),
        "max_age": Opt(_positive),
        "min_size": Opt(_bytes, default=1),
        "verify_checksum": Opt(_bool, default=True),
        "restore_test": Opt(_bool, default=True),
        "restore_test_max_age": Opt(_positive),
        "job": Opt(_str),
        "cron_config_dir": Opt(_abs_path, default="/etc/vitals/cron/jobs"),
    },
    "command": {
        "argv": Opt(_str_list, required=True),
        "rc": Opt(_int, default=0),
        "stdout_regex": Opt(_regex),
        "chdir": Opt(_abs_path),
    },
    "django": {
        "release": Opt(_abs_path, required=True),
        "python": Opt(_abs_path),
        "env_file": Opt(_abs_path),
        "user": Opt(_str),
        "settings": Opt(_str),
        "deploy": Opt(_bool, default=True),
        "migrations": Opt(_bool, default=True),
    },
    "tls": {
        "host": Opt(_str, required=True),
        "port": Opt(_port, default=443),
        "server_name": Opt(_str),
        "warn_days": Opt(_int, default=30),
        "min_days": Opt(_int, default=7),
        "validate_certs": Opt(_bool, default=True),
        "ca_path": Opt(_abs_path),
    },
    "media": {
        "root": Opt(_abs_path, required=True),
        "url": Opt(_url, required=True),
        "host": Opt(_str),
        "user": Opt(_str),
        "umask": Opt(_umask, default=0o027),
        "validate_certs": Opt(_bool, default=True),
    },
    "smtp": {
        "host": Opt(_str, required=True),
        "port": Opt(_port, default=25),
        "banner": Opt(_regex, default=r"^220"),
        "ehlo": Opt(_bool, default=True),
        "ehlo_name": Opt(_str, default="localhost"),
    },
}
COMMON_KEYS = ("name", "severity", "timeout", "unit")
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")


def _convert(errors, where, key, opt_or_convert, value, *, path=""):
    convert = opt_or_convert.convert if isinstance(opt_or_convert, Opt) else opt_or_convert
    try:
        return convert(value)
    except ValueError as exc:
        errors.append(Problem("%s: option '%s' %s" % (where, key, exc), path))
        return None


def _cross_checks(ctype, options):
    """Rules that involve several options of one check type."""
    if ctype == "disk" and options["warn_free"] and not options["min_free"]:
        return ["'warn_free' needs 'min_free' (the critical threshold)"]
    if ctype == "backup" and not (options["dir"] or options["app"]):
        return ["needs 'dir' or 'app'"]
    if ctype == "backup" and not (options["max_age"] or options["job"]):
        return ["needs 'max_age' or 'job' (the tracked job whose schedule sets the limit)"]
    if ctype == "disk" and options["min_free"] is None and options["min_free_inodes"] is None:
        return ["needs 'min_free' or 'min_free_inodes'"]
    if ctype == "disk" and options["warn_free"] and options["warn_free"][0] != options["min_free"][0]:
        return ["'warn_free' and 'min_free' must both be percentages or both sizes"]
    if ctype == "disk" and options["warn_free"] and options["warn_free"][1] < options["min_free"][1]:
        return ["'warn_free' must not be below 'min_free'"]
    if ctype == "tls" and options["warn_days"] < options["min_days"]:
        return ["'warn_days' must not be below 'min_days'"]
    return []


def _fill_defaults(ctype, options):
    if ctype == "backup" and not options["dir"]:
        options["dir"] = "/var/backups/vitals/%s" % options["app"]
    if ctype == "django" and not options["python"]:
        options["python"] = options["release"].rstrip("/") + "/venv/bin/python"


def secrets_of(check):
    """Values of one check that must never show up in output."""
    found = set()
    for key, opt in SCHEMA[check.type].items():
        if opt.secret and check.options.get(key):
            found.add(check.options[key])
    if check.type == "http":
        for header, value in check.options["headers"].items():
            if header.lower() in SECRET_HEADERS:
                found.add(value)
        password = urlsplit(check.options["url"]).password
        if password:
            found.add(password)
    return found


def validate_check(index, item, errors):
    """One list item -> Check, or None after appending errors."""
    label = "checks[%d]" % index
    at = "[%d]" % index
    if not isinstance(item, dict):
        errors.append(Problem("%s: must be a dictionary with 'name' and one check type" % label, at))
        return None
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        rule = "letters, digits, '_.@:-', up to 100 characters"
        errors.append(Problem("%s: option 'name' is required (%s)" % (label, rule), at + ".name"))
        return None
    where = "check '%s'" % name
    types = [key for key in item if key in SCHEMA]
    unknown = sorted(str(key) for key in item if key not in SCHEMA and key not in COMMON_KEYS)
    if unknown:
        errors.append(
            Problem(
                "%s: unknown option or check type %s (types: %s)" % (where, ", ".join(unknown), ", ".join(SCHEMA)),
                "%s.%s" % (at, unknown[0]),
            )
        )
    if len(types) != 1:
        errors.append(
            Problem(
                "%s: needs exactly one check type, got %s" % (where, ", ".join(types) if types else "none")
                + ("" if types else " (types: %s)" % ", ".join(SCHEMA)),
                at,
            )
        )
        return None
    ctype = types[0]
    severity = _convert(
        errors, where, "severity", _choice(*SEVERITIES), item.get("severity", "critical"), path=at + ".severity"
    )
    timeout = _convert(errors, where, "timeout", _positive, item.get("timeout", DEFAULT_TIMEOUT), path=at + ".timeout")
    units = _convert(errors, where, "unit", _units, item.get("unit", []), path=at + ".unit")
    raw = item[ctype] if item[ctype] is not None else {}
    if not isinstance(raw, dict):
        errors.append(Problem("%s: '%s' must be a dictionary of options" % (where, ctype), "%s.%s" % (at, ctype)))
        return None
    schema = SCHEMA[ctype]
    before = len(errors)
    for key in sorted(set(raw) - set(schema)):
        errors.append(
            Problem(
                "%s: unknown option '%s' for type %s (options: %s)" % (where, key, ctype, ", ".join(schema)),
                "%s.%s.%s" % (at, ctype, key),
            )
        )
    options = {}
    for key, opt in schema.items():
        path = "%s.%s.%s" % (at, ctype, key)
        if raw.get(key) is None:
            if opt.required:
                errors.append(Problem("%s: option '%s' is required for type %s" % (where, key, ctype), path))
            options[key] = opt.default
        else:
            options[key] = _convert(errors, where, key, opt, raw[key], path=path)
    if len(errors) > before:
        return None
    errors.extend(
        Problem("%s: %s" % (where, problem), "%s.%s" % (at, ctype)) for problem in _cross_checks(ctype, options)
    )
    _fill_defaults(ctype, options)
    return Check(name=name, type=ctype, severity=severity, timeout=timeout, options=options, units=units)


def check_problems(checks):
    """Every problem of a check list, each a Problem with its path ('[2].http.url'); [] when valid."""
    if not isinstance(checks, list):
        return [Problem("must be a list of checks, got %s" % type(checks).__name__)]
    errors = []
    _validate_items(checks, errors)
    return errors


def _validate_items(checks, errors):
    """The list's items -> the valid Checks; problems appended to `errors`."""
    parsed, seen = [], set()
    for index, item in enumerate(checks):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in seen:
            errors.append(Problem("check '%s': duplicate name" % name, "[%d].name" % index))
        seen.add(name)
        check = validate_check(index, item, errors)
        if check is not None:
            parsed.append(check)
    return parsed


def validate_config(checks, within=0, delay=2, concurrency=8, fail_on_unknown=True):
    """Whole configuration -> Config; raises ValidationError listing every problem."""
    errors = []
    if not isinstance(checks, list) or not checks:
        raise ValidationError(["option 'checks' must be a non-empty list"])
    within = _convert(errors, "health", "within", _non_negative, within)
    delay = _convert(errors, "health", "delay", _non_negative, delay)
    concurrency = _convert(errors, "health", "concurrency", _int, concurrency)
    if concurrency is not None and concurrency < 1:
        errors.append("health: option 'concurrency' must be at least 1")
    fail_on_unknown = _convert(errors, "health", "fail_on_unknown", _bool, fail_on_unknown)
    parsed = _validate_items(checks, errors)
    if errors:
        raise ValidationError(errors)
    secrets = set().union(*(secrets_of(c) for c in parsed))
    return Config(parsed, within, delay, concurrency, fail_on_unknown, secrets)
