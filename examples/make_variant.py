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
  install-error    the same, behind the marker `python_version >= "3.12"`: pip download on the
                   Python 3.11 controller skips it, pip install on a Python 3.12+ host (trixie)
                   does not find it in the wheelhouse, so the install on the host fails
--label writes a VERSION file, which changes the artifact without a fault (a plain new release).
"""

import argparse
import shutil
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent / "demo"
FAULTS = ("import-error", "health-500", "slow-start", "migration-error", "build-error", "install-error")
MISSING = "vitals-django-no-such-package==0.0.0"
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
    with open(dest / "requirements.txt", "a", encoding="utf-8") as f:
        if "build-error" in faults:
            f.write(MISSING + "\n")
        if "install-error" in faults:
            f.write(MISSING + '; python_version >= "3.12"\n')
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
