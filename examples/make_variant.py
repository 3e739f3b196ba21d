#!/usr/bin/env python3
"""Copy the demo project and inject faults, for failure tests of deploys and rollbacks.

    python3 examples/make_variant.py DEST --fault health-500 [--fault ...] [--label TEXT]

Faults travel inside the copy (a FAULTS file, and for migration-error a new migration), so the
release built from it is broken and the previous release is not:
  import-error     config.wsgi raises on import: gunicorn cannot load the app
  health-500       /ht/ answers 500 (a failing django-health-check check)
  slow-start       config.wsgi sleeps DEMO_SLOW_START_SECONDS (60) before serving
  migration-error  a new migration that raises, so `migrate` fails
  build-error      requirements.txt asks for a package that does not exist: the build fails
  missing-version  requirements.txt pins a version of a real package that was never released
                   (sqlparse==99.0.0, instead of the demo's pin): the build fails naming it
--label writes a VERSION file, which changes the artifact without a fault (a plain new release).
"""

import argparse
import shutil
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent / "demo"
FAULTS = ("import-error", "health-500", "slow-start", "migration-error", "build-error", "missing-version")
MISSING = "vitals-django-no-such-package==0.0.0"
MISSING_VERSION = "sqlparse==99.0.0"
# Local state of a run of the project, not part of it: only at its top (catalog/static/ is source).
TOP_LEVEL_STATE = {"db.sqlite3", "static", "media", "FAULTS", "VERSION"}


def ignore(directory, names):
    """shutil.copytree ignore: caches anywhere, run state at the top only."""
    top = Path(directory) == DEMO
    return {n for n in names if n == "__pycache__" or n.endswith(".pyc") or (top and n in TOP_LEVEL_STATE)}


MIGRATION = """from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("injected fault: migration-error")


class Migration(migrations.Migration):
    dependencies = [("catalog", "{leaf}")]
    operations = [migrations.RunPython(fail, migrations.RunPython.noop)]
"""


def leaf_migration(migrations_dir):
    """Name of the newest catalog migration (they are numbered)."""
    names = sorted(p.stem for p in migrations_dir.glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1]


def make_variant(dest, faults, label=None):
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(DEMO, dest, ignore=ignore)
    if faults:
        (dest / "FAULTS").write_text("\n".join(sorted(faults)) + "\n", encoding="utf-8")
    if "migration-error" in faults:
        migrations = dest / "catalog" / "migrations"
        leaf = leaf_migration(migrations)
        number = int(leaf[:4]) + 1
        (migrations / f"{number:04d}_injected_fault.py").write_text(MIGRATION.format(leaf=leaf), encoding="utf-8")
    requirements = dest / "requirements.txt"
    lines = requirements.read_text(encoding="utf-8").splitlines()
    if "missing-version" in faults:
        name = MISSING_VERSION.split("==", maxsplit=1)[0]
        lines = [MISSING_VERSION if line.lower().startswith(name + "==") else line for line in lines]
    if "build-error" in faults:
        lines.append(MISSING)
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if label:
        (dest / "VERSION").write_text(label + "\n", encoding="utf-8")
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest")
    parser.add_argument("--fault", action="append", choices=FAULTS, default=[])
    parser.add_argument("--label")
    args = parser.parse_args(argv)
    print(make_variant(args.dest, set(args.fault), args.label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
