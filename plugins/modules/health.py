#!/usr/bin/python
# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: health
short_description: Run health checks against a running deployment and fail on a critical one
version_added: 0.1.0
description:
  - Runs a list of checks (HTTP, TCP, PostgreSQL, disk, systemd, tracked cron jobs, backups, commands,
    Django system checks and migrations, TLS certificates, SMTP) concurrently, each with its own timeout.
  - Only transient failures (connection refused, HTTP 502, 503 or 504, a timeout, a unit starting for the
    first time) are retried, every O(delay) seconds until they pass or the grace window O(within) ends.
    A definitive failure (a wrong answer, a failed or restarting unit, a refused write) is confirmed once
    after half a second and reported; a transient one becomes definitive when a unit of
    O(checks[].unit) is down; a warning is never retried. Each result says why it stopped (RV(checks[].stopped)).
  - Each check ends C(ok), C(warning), C(critical) or C(unknown) (Nagios codes 0-3). A failed check
    is C(critical) unless its O(checks[].severity) is C(warning).
  - The task fails when a check is C(critical) (or C(unknown), see O(fail_on_unknown)) and still
    returns every check's result. Warnings pass and are listed in RV(msg).
  - The task never changes anything (C(changed=false)) and runs in check mode too.
  - The whole list is validated before any check runs; an error names the check and the option.
  - The same checks run outside Ansible through the C(vitals-health) command and HTTP endpoint
    installed by the P(vitals.django.health_monitor#role) role.
author:
  - vitals.django developers (@vitals-django)
requirements:
  - requests (python3-requests), for C(http) checks
  - psycopg2 (python3-psycopg2) or psycopg 3 (python3-psycopg), for C(postgres) checks
  - cryptography (python3-cryptography), for C(tls) checks
  - A check whose library is missing ends C(unknown) with a message saying what to install.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Checks only read; they run in check mode as well. C(command) checks must be read-only commands.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  checks:
    description:
      - The checks. Each item has a O(checks[].name), exactly one check type key (V(http), V(tcp), V(postgres),
        V(disk), V(systemd), V(cron), V(backup), V(command), V(django), V(tls), V(smtp), V(media)) holding that type's
        options, and optionally O(checks[].severity) and O(checks[].timeout).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name of the check, shown in results and messages (letters, digits, C(_.@:-)).
        type: str
        required: true
      severity:
        description: Status of the check when its assertion fails.
        type: str
        choices: [critical, warning]
        default: critical
      timeout:
        description: Seconds one attempt may take (connect, read, query or command).
        type: float
        default: 10
      unit:
        description:
          - The systemd units the check depends on (C(demo.service)). When the check fails in a way that
            could recover and one of them is failed, inactive or in C(auto-restart), the failure is
            definitive and is reported at once instead of retried to the end of the window.
        type: list
        elements: str
      http:
        description: An HTTP(S) request and what its answer must look like.
        type: dict
        suboptions:
          url:
            description: "C(http://) or C(https://) URL."
            type: str
            required: true
          method:
            description: HTTP method.
            type: str
            default: GET
            choices: [GET, HEAD, POST, PUT, OPTIONS]
          status:
            description: Expected status code or list of codes.
            type: list
            elements: int
            default: [200]
          body_regex:
            description: Regular expression the body must match (search).
            type: str
          json:
            description:
              - 'Dotted JSON paths of the body and the values they must equal, for example C({"db.status": "ok"}).'
              - List items are addressed by index (C(items.0.id)).
            type: dict
          host:
            description:
              - C(Host) header to send, so the probe passes Django's C(ALLOWED_HOSTS) when the URL
                names an address.
            type: str
          headers:
            description: Other request headers to send. C(Authorization) and C(Cookie) values are secret.
            type: dict
          expect_headers:
            description: Response headers and regular expressions their values must match.
            type: dict
          max_latency:
            description: Maximum seconds the answer may take; slower fails the check.
            type: float
          validate_certs:
            description: Verify the TLS certificate.
            type: bool
            default: true
          ca_path:
            description: CA bundle to verify the certificate with.
            type: path
          follow_redirects:
            description: Follow redirects instead of checking the redirect itself.
            type: bool
            default: false
      tcp:
        description: A TCP connection, and optionally the banner the server sends first.
        type: dict
        suboptions:
          host:
            description: Host name or address.
            type: str
            required: true
          port:
            description: Port (1-65535).
            type: int
            required: true
          banner:
            description: Regular expression the first line received must match.
            type: str
      postgres:
        description:
          - A read-only query in a read-only transaction; the role used needs no write permission.
        type: dict
        suboptions:
          host:
            description: Host or socket directory; the driver's default (local socket) when omitted.
            type: str
          port:
            description: Port.
            type: int
            default: 5432
          dbname:
            description: Database.
            type: str
            default: postgres
          user:
            description: Role to connect as; the driver's default when omitted.
            type: str
          password:
            description: Password. Never shown in results or messages.
            type: str
          sslmode:
            description: libpq sslmode.
            type: str
            choices: [disable, allow, prefer, require, verify-ca, verify-full]
          query:
            description: Query; the first column of the first row is its value.
            type: str
            default: SELECT 1
          expected:
            description: The value (as text) the query must return; any value passes when omitted.
            type: str
          write:
            description:
              - Also prove the database accepts writes as this role, with a committed
                C(UPDATE vitals.health_write) (the one-row table the P(vitals.django.postgresql#role) role
                creates). Table privileges, a read-only role or database, a hot standby and a full disk fail it.
              - Without it the query runs in a read-only session.
            type: bool
            default: false
      disk:
        description: Free space and free inodes of the file system holding a path. Set at least one minimum.
        type: dict
        suboptions:
          path:
            description: Absolute path.
            type: path
            required: true
          warn_free:
            description:
              - Free space under which the check is a C(warning), C(20%) or a size; needs O(checks[].disk.min_free)
                of the same kind, and must not be below it.
            type: str
          min_free:
            description:
              - Minimum free space available to unprivileged users, C(10%) or a size (C(500M), C(2G), bytes).
              - A percentage is of used plus available space, as C(df) computes it.
            type: str
          min_free_inodes:
            description: Minimum free inodes, C(5%) or a count.
            type: str
      systemd:
        description: State of a systemd unit. A C(failed) unit always fails the check.
        type: dict
        suboptions:
          unit:
            description: Unit name (C(gunicorn-demo.service)).
            type: str
            required: true
          active:
            description: The unit must be active (V(true)) or must not be (V(false)).
            type: bool
            default: true
          enabled:
            description: The unit must be enabled (V(true)) or disabled (V(false)); not checked when omitted.
            type: bool
          min_uptime:
            description: The unit must have been active for at least this many seconds (no restart within them).
            type: float
          observe:
            description:
              - Seconds the unit is watched (a sample every half second) when it must be active. A restart
                (C(NRestarts) grows), a new main process, C(auto-restart) or C(failed) meanwhile fail the check,
                as does a socket unit that hit its trigger limit. V(0) takes one sample.
            type: float
            default: 2
      cron:
        description:
          - A tracked cron job, from the state file its runner writes (C(<state_dir>/<job>.json),
            see docs/architecture.md), and its definition (C(<config_dir>/<job>.json)).
          - Critical when the last run failed or was killed at its timeout, or the last success is older
            than the window; a job that never ran is ok until one window after it was defined (its first
            run is not due yet), then critical.
        type: dict
        suboptions:
          job:
            description: Job name, or V(*) for every job defined in O(checks[].cron.config_dir) (none is ok).
            type: str
            required: true
          state_dir:
            description: Directory of the state files.
            type: path
            default: /var/lib/vitals/cron
          config_dir:
            description: Directory of the job definitions (schedule, timeout) written by P(vitals.django.cron#role).
            type: path
            default: /etc/vitals/cron/jobs
          max_age:
            description:
              - Seconds since the last success, at most. Default the longest gap between two runs of the job's
                schedule, plus its timeout, plus 10 minutes.
            type: float
          max_running:
            description: Seconds the current run may have been running, at most.
            type: float
          require_success:
            description: The last run must have succeeded (exit code 0).
            type: bool
            default: true
      backup:
        description:
          - The newest backup of a kind in a directory (format in docs/architecture.md), checking its age, size,
            checksum and last restore test. They come from the record the backup job writes
            (C(<dir>/state/<prefix>.json) with C(kind), C(backup), C(finished_at), C(size_bytes), C(sha256),
            C(restore_test)); without one, from the newest C(<prefix>-<UTC stamp>.*) file, its modification
            time, its C(.sha256) file and C(restore-test.json). The name's stamp is never used as the age.
          - No backup at all is a C(warning) until the first run of O(checks[].backup.job) was due, then critical.
        type: dict
        suboptions:
          dir:
            description: Backup directory; default C(/var/backups/vitals/<app>).
            type: path
          app:
            description: Application name, to derive O(checks[].backup.dir).
            type: str
          prefix:
            description: Kind of backup, the file name prefix (V(db), V(media)).
            type: str
            default: db
          max_age:
            description:
              - Seconds since the newest backup, at most. Default from the schedule of O(checks[].backup.job),
                as for O(checks[].cron.max_age). One of the two is required.
            type: float
          job:
            description: The tracked cron job that makes this kind of backup (V(backup-db)).
            type: str
          cron_config_dir:
            description: Directory of the job definitions.
            type: path
            default: /etc/vitals/cron/jobs
          min_size:
            description: Minimum size of the newest backup (bytes or C(1K), C(5M)).
            type: str
            default: "1"
          verify_checksum:
            description: Compare the file with its C(.sha256) file.
            type: bool
            default: true
          restore_test:
            description: The last restore test must have passed.
            type: bool
            default: true
          restore_test_max_age:
            description: Seconds since the last restore test, at most.
            type: float
      command:
        description: A read-only command, its exit code and output.
        type: dict
        suboptions:
          argv:
            description: Program and arguments (no shell).
            type: list
            elements: str
            required: true
          rc:
            description: Expected exit code.
            type: int
            default: 0
          stdout_regex:
            description: Regular expression the standard output must match (multi-line search).
            type: str
          chdir:
            description: Working directory.
            type: path
      django:
        description:
          - Runs C(manage.py check --deploy) (errors are critical, warnings are warnings) and
            C(manage.py migrate --check) (pending migrations are critical)
            in a release directory, with the release's venv and the env file.
        type: dict
        suboptions:
          release:
            description: Release directory holding C(manage.py).
            type: path
            required: true
          python:
            description: Python to run C(manage.py) with; default C(<release>/venv/bin/python).
            type: path
          env_file:
            description: C(KEY=VALUE) environment file. Its values never appear in results.
            type: path
          user:
            description: User to run as (the app's runtime user).
            type: str
          settings:
            description: C(DJANGO_SETTINGS_MODULE), when the env file does not set it.
            type: str
          deploy:
            description: Run C(check --deploy).
            type: bool
            default: true
          migrations:
            description: Run C(migrate --check).
            type: bool
            default: true
      tls:
        description: Days left before a server certificate expires.
        type: dict
        suboptions:
          host:
            description: Host to connect to.
            type: str
            required: true
          port:
            description: Port.
            type: int
            default: 443
          server_name:
            description: SNI name; default O(checks[].tls.host).
            type: str
          warn_days:
            description: Days left under which the check is a C(warning).
            type: int
            default: 30
          min_days:
            description: Days left under which the check is C(critical).
            type: int
            default: 7
          validate_certs:
            description: Verify the certificate chain and name.
            type: bool
            default: true
          ca_path:
            description: CA bundle to verify with.
            type: path
      media:
        description:
          - Writes a file the way the app does (as O(checks[].media.user), with O(checks[].media.umask)) into a
            new subdirectory of the media root, fetches it through nginx and removes it. Catches a umask,
            owner, group or C(alias) that keeps nginx from serving the app's uploads.
          - Needs root to write as another user.
        type: dict
        suboptions:
          root:
            description: The media root (Django's C(MEDIA_ROOT)).
            type: path
            required: true
          url:
            description: URL of the root as nginx serves it (C(http://127.0.0.1/media/)).
            type: str
            required: true
          host:
            description: Host header of the request.
            type: str
          user:
            description: User the file is written as (the app's runtime user); the module's user when omitted.
            type: str
          umask:
            description: Umask the file is written with, the app unit's C(UMask=) (V('0027')).
            type: str
            default: "0027"
          validate_certs:
            description: Verify the certificate of an C(https://) URL.
            type: bool
            default: true
      smtp:
        description: An SMTP server's banner and its answer to C(EHLO).
        type: dict
        suboptions:
          host:
            description: Host.
            type: str
            required: true
          port:
            description: Port.
            type: int
            default: 25
          banner:
            description: Regular expression the banner must match.
            type: str
            default: ^220
          ehlo:
            description: Send C(EHLO) and expect C(250).
            type: bool
            default: true
          ehlo_name:
            description: Name sent with C(EHLO).
            type: str
            default: localhost
  within:
    description:
      - Grace window in seconds. A failing check is retried every O(delay) seconds until it passes or until
        another attempt could not start before the window ends. V(0) runs every check once.
    type: float
    default: 0
  delay:
    description: Seconds between attempts of a failing check.
    type: float
    default: 2
  concurrency:
    description: How many checks run at the same time. The task takes about as long as its slowest check.
    type: int
    default: 8
  fail_on_unknown:
    description:
      - Fail the task when a check ends C(unknown) (it could not be evaluated, for example a missing library).
      - With V(false), C(unknown) results pass like warnings.
    type: bool
    default: true
notes:
  - Secrets (O(checks[].postgres.password), secret HTTP headers, URL passwords, Django env values) are
    replaced by C(********) in every result and message.
seealso:
  - name: vitals-health command and endpoint
    description: The P(vitals.django.health_monitor#role) role runs the same checks from cron, Nagios or Prometheus.
    link: https://github.com/vitals-django/vitals.django/blob/main/roles/health_monitor/README.md
"""

EXAMPLES = r"""
- name: Verify the release after the switch
  vitals.django.health:
    within: 60
    delay: 3
    checks:
      - name: home
        http:
          url: http://127.0.0.1/
          host: www.example.com
          status: [200, 302]
          max_latency: 2
      - name: health-endpoint
        http:
          url: http://127.0.0.1/healthz
          host: www.example.com
          json: {status: ok, db: ok}
      - name: static-cached
        http:
          url: http://127.0.0.1/static/app.css
          host: www.example.com
          expect_headers: {Cache-Control: "max-age=\\d+"}
      - name: gunicorn
        systemd: {unit: gunicorn-demo.service}
      - name: database
        postgres:
          host: localhost
          user: demo
          password: "{{ app_db_password }}"
          dbname: demo
          query: SELECT count(*) > 0 FROM django_migrations
          expected: "True"
      - name: django
        django:
          release: /srv/demo/current
          env_file: /srv/demo/shared/env
          user: demo
      - name: disk
        severity: warning
        disk: {path: /srv, min_free: 10%, min_free_inodes: 5%}
      - name: clearsessions
        cron: {job: clearsessions, max_age: 90000}
      - name: backup
        backup: {app: demo, max_age: 93600}
"""

RETURN = r"""
status:
  description: Overall status, the worst of the checks (ok < warning < unknown < critical).
  returned: always
  type: str
  sample: critical
code:
  description: Nagios code of RV(status) (0 ok, 1 warning, 2 critical, 3 unknown).
  returned: always
  type: int
  sample: 2
summary:
  description: Number of checks per status, and the total.
  returned: always
  type: dict
  sample: {ok: 4, warning: 1, critical: 1, unknown: 0, total: 6}
checks:
  description: One result per check, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Name of the check., type: str, returned: always, sample: home}
    type: {description: Check type., type: str, returned: always, sample: http}
    severity: {description: Severity of the check., type: str, returned: always, sample: critical}
    status:
      description: C(ok), C(warning), C(critical) or C(unknown).
      type: str
      returned: always
      sample: critical
    message: {description: What was found., type: str, returned: always, sample: "HTTP 500, expected 200"}
    duration_ms:
      description: Milliseconds from the first attempt to the result.
      type: float
      returned: always
      sample: 12.5
    attempts: {description: Number of attempts., type: int, returned: always, sample: 1}
    stopped:
      description:
        - Why the check stopped. C(passed); C(warning) (never retried); C(definitive) (a failure that
          cannot recover by itself, confirmed once); C(unit-down) (a transient failure while a unit of
          O(checks[].unit) is down); C(window-expired) (transient until the end of O(within));
          C(unknown) (the check could not run).
      type: str
      returned: always
      sample: definitive
    details:
      description: Measured values of the check type (status code, latency, free space...).
      type: dict
      returned: always
  sample:
    - {name: home, type: http, severity: critical, status: critical, message: "HTTP 500, expected 200",
       duration_ms: 12.5, attempts: 3, details: {status_code: 500, latency_ms: 4.1, url: "http://127.0.0.1/"}}
msg:
  description: Every failed check and why, then any warnings.
  returned: always
  type: str
  sample: "1 of 6 health checks failed: home (http, critical): HTTP 500, expected 200"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.health.deps import SystemDeps  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks  # noqa: E402
from ansible_collections.vitals.django.plugins.module_utils.health.schema import ValidationError, validate_config  # noqa: E402

ARGUMENT_SPEC = {
    "checks": {"type": "list", "elements": "dict", "required": True},
    "within": {"type": "float", "default": 0},
    "delay": {"type": "float", "default": 2},
    "concurrency": {"type": "int", "default": 8},
    "fail_on_unknown": {"type": "bool", "default": True},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        config = validate_config(**module.params)
    except ValidationError as exc:
        module.fail_json(msg="Invalid health checks: %s" % exc, errors=exc.errors)
    # `checks` has no per-option spec, so declare its secrets for Ansible's own output masking too.
    module.no_log_values.update(config.secrets)
    report = run_checks(config, SystemDeps(missing_lib=lambda lib, _package: missing_required_lib(lib)))
    msg = report.pop("msg")
    failed = report.pop("failed")
    if failed:
        module.fail_json(msg=msg, changed=False, **report)
    module.exit_json(msg=msg, changed=False, **report)


if __name__ == "__main__":
    main()
