"""The checkout as the collection vitals.django for every test, as `make venv` sets it up: the
link build/collections/ansible_collections/vitals/django -> the checkout (in the ignored build/,
so no committed link loop), on the import path and in ANSIBLE_COLLECTIONS_PATH."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "vitals" / "django"

if not LINK.is_symlink():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to(Path("..", "..", "..", ".."))
sys.path.insert(0, str(COLLECTIONS))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
