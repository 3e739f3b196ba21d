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
    for name, help_text, samples in _measurements(report["checks"]):
        if samples:
            out += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
            out += ["%s{%s} %s" % (name, labels, _number(value)) for labels, value in samples]
    return "\n".join(out) + "\n"


def _number(value):
    return repr(float(value)) if not float(value).is_integer() else "%d" % value


def _labels(result, **extra):
    pairs = [("check", result["name"]), *sorted(extra.items())]
    return ",".join('%s="%s"' % (key, _label_value(str(value))) for key, value in pairs)


def _measurements(results):
    """(metric, help, [(labels, value)]) for what people alert on, from the checks' details."""
    cert, free, ratio, restarts, backup, job = [], [], [], [], [], []
    for r in results:
        d = r.get("details") or {}
        if r["type"] == "tls" and d.get("days_left") is not None:
            cert.append((_labels(r), round(d["days_left"] * 86400)))
        if r["type"] == "disk" and d.get("free_bytes") is not None:
            free.append((_labels(r, path=d["path"]), d["free_bytes"]))
            if d.get("free_percent") is not None:
                ratio.append((_labels(r, path=d["path"]), round(d["free_percent"] / 100.0, 4)))
        if r["type"] == "systemd" and str(d.get("NRestarts") or "").isdigit():
            restarts.append((_labels(r, unit=d.get("unit", r["name"])), int(d["NRestarts"])))
        if r["type"] == "backup" and d.get("age_s") is not None:
            backup.append((_labels(r, backup=d.get("newest", "")), d["age_s"]))
        if r["type"] == "cron":
            for name, state in sorted((d.get("jobs") or {}).items()):
                if state.get("last_success_age_s") is not None:
                    job.append((_labels(r, job=name), state["last_success_age_s"]))
    return [
        # Seconds, the base unit Prometheus wants (days_left * 86400): alert on < 30 * 86400.
        ("vitals_health_tls_cert_expires_in_seconds", "Seconds until the server certificate expires.", cert),
        ("vitals_health_disk_free_bytes", "Bytes available to unprivileged users (df's Avail).", free),
        ("vitals_health_disk_free_ratio", "Available / (used + available), as df computes it.", ratio),
        ("vitals_health_unit_restarts", "Times systemd restarted the unit (NRestarts).", restarts),
        ("vitals_health_backup_age_seconds", "Seconds since the newest backup finished.", backup),
        ("vitals_health_job_last_success_age_seconds", "Seconds since the tracked job last succeeded.", job),
    ]


FORMATS = {"human": format_human, "json": format_json, "nagios": format_nagios, "prometheus": format_prometheus}
