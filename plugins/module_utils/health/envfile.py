# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one parser of the release's environment file (<app_root>/shared/env).

Used by the health checks (django check), the tracked cron runner and <app_root>/bin/manage:
the cron and release roles install this file on the hosts as /usr/local/lib/vitals/vitals_envfile.py,
so it stays standard-library only and imports nothing from its package.
"""


def parse_env_file(text):
    """KEY=VALUE lines as systemd's EnvironmentFile= reads the file the release role writes.

    Blank lines and # comments are skipped, an `export ` prefix is dropped, one pair of matching
    quotes around the value is removed; a line without `=` or without a key is ignored.
    """
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env
