# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A report (runner.run_checks) as text for people, JSON, a Nagios plugin line, or Prometheus metrics."""

import json
import re

from .runner import CODES


def format_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


def format_human(report):
    width = max(len(r["name"]) for r in report["checks"]) if report["checks"] else 4
    lines = [
        "%-8s %-*s %-8s %8.0f ms  %s"
        % (r["status"].upper(), width, r["name"], r["type"], r["duration_ms"], r["message"])
        + ("" if r["attempts"] == 1 else " (%d attempts)" % r["attempts"])
        for r in report["checks"]
    ]
    lines.append(report["msg"])
    return "\n".join(lines) + "\n"


def _perf_label(name):
    # Nagios perfdata labels are quoted; a single quote inside is doubled.
    return "'%s'" % name.replace("'", "''")


def format_nagios(report):
    """One line 'HEALTH <STATUS> - message | perfdata' (Nagios plugin API); exit with report['code']."""
    summary = report["summary"]
    perf = ["%s=%d;;;0;%d" % (status, summary[status], summary["total"]) for status in CODES]
    perf += ["%s=%.3fs" % (_perf_label(r["name"] + "_time"), r["duration_ms"] / 1000.0) for r in report["checks"]]
    message = report["msg"].replace("|", "/").replace("\n", " ")
    return "HEALTH %s - %s | %s\n" % (report["status"].upper(), message, " ".join(perf))


def _label_value(value):
    return re.sub(r'(["\\])', r"\\\1", value).replace("\n", "\\n")


def format_prometheus(report):
    """Prometheus text exposition format 0.0.4."""
    out = [
        "# HELP vitals_health_status Overall status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "# TYPE vitals_health_status gauge",
        "vitals_health_status %d" % report["code"],
        "# HELP vitals_health_check_status Status of one check: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "# TYPE vitals_health_check_status gauge",
    ]
    rows = [('check="%s",type="%s"' % (_label_value(r["name"]), r["type"]), r) for r in report["checks"]]
    out += ["vitals_health_check_status{%s} %d" % (lbl, CODES[r["status"]]) for lbl, r in rows]
    out += [
        "# HELP vitals_health_check_up 1 when the check is ok, else 0.",
        "# TYPE vitals_health_check_up gauge",
    ]
    out += ["vitals_health_check_up{%s} %d" % (lbl, r["status"] == "ok") for lbl, r in rows]
    out += [
        "# HELP vitals_health_check_duration_seconds Time the check took, retries included.",
        "# TYPE vitals_health_check_duration_seconds gauge",
    ]
    out += ["vitals_health_check_duration_seconds{%s} %.3f" % (lbl, r["duration_ms"] / 1000.0) for lbl, r in rows]
    out += ["# HELP vitals_health_checks Number of checks per status.", "# TYPE vitals_health_checks gauge"]
    out += ['vitals_health_checks{status="%s"} %d' % (status, report["summary"][status]) for status in CODES]
    return "\n".join(out) + "\n"


FORMATS = {"human": format_human, "json": format_json, "nagios": format_nagios, "prometheus": format_prometheus}
