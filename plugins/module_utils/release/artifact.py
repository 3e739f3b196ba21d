# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic release artifacts: the same inputs give the same bytes, so the same sha256.

Entries are sorted, owners are root, mtimes fixed, modes normalised to 0644/0755 and the gzip
header carries no name or time. Only the content and the executable bit of files reach the hash.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
import tempfile

# 1980-01-01, the zip epoch that wheels use too: old enough to be obviously synthetic, late
# enough for tools that refuse 1970 timestamps.
FIXED_MTIME = 315532800
CHUNK = 1024 * 1024


def is_excluded(relpath, patterns):
    """True when any path component of relpath matches one of the fnmatch patterns."""
    return any(fnmatch.fnmatch(part, pat) for part in relpath.split("/") for pat in patterns)


def collect_entries(root, prefix="", exclude=()):
    """List (arcname, abspath) under root, sorted, skipping excluded names and special files.

    Symlinks are kept as links (never followed), so a link out of the tree cannot pull in
    files from elsewhere on the controller.
    """
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        kept_dirs = []
        for name in dirnames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if is_excluded(rel, exclude):
                continue
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                # os.walk does not descend into links; record the link itself.
                entries.append((prefix + rel, full))
            else:
                kept_dirs.append(name)
                entries.append((prefix + rel, full))
        dirnames[:] = kept_dirs
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = os.path.join(dirpath, name)
            if is_excluded(rel, exclude):
                continue
            if os.path.islink(full) or os.path.isfile(full):
                entries.append((prefix + rel, full))
    return sorted(entries)


def normalized_tarinfo(arcname, path):
    """A TarInfo for path with owner, mtime and mode normalised; file size filled in."""
    st = os.lstat(path)
    info = tarfile.TarInfo(arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = FIXED_MTIME
    if os.path.islink(path):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif os.path.isdir(path):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    return info


def write_tarball(fileobj, trees, exclude=()):
    """Write a deterministic .tar.gz of trees (list of (prefix, dir)) to a binary file object."""
    entries = []
    for prefix, root in trees:
        if prefix:
            entries.append((prefix.rstrip("/"), root))
        entries.extend(collect_entries(root, prefix, exclude))
    entries.sort()
    seen = set()
    # One-line `with` (no parentheses): module_utils must still compile on older target Pythons.
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0, compresslevel=6)
    with gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in entries:
            if arcname in seen:
                raise ValueError(f"{arcname} occurs twice in the artifact")
            seen.add(arcname)
            info = normalized_tarinfo(arcname, path)
            if info.type == tarfile.REGTYPE:
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def sha256_file(path):
    """Hex sha256 of a file, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_artifact(dest, trees, exclude=(), check_mode=False):
    """Build the artifact for trees at dest; replace dest only when its bytes differ.

    Returns (changed, sha256). In check mode the artifact is built in memory and dest is left alone.
    """
    if check_mode:
        buf = io.BytesIO()
        write_tarball(buf, trees, exclude)
        sha = hashlib.sha256(buf.getvalue()).hexdigest()
        return sha != sha256_file(dest), sha
    dest_dir = os.path.dirname(os.path.abspath(dest))
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".artifact-", suffix=".tar.gz", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            write_tarball(f, trees, exclude)
        sha = sha256_file(tmp)
        if sha == sha256_file(dest):
            os.unlink(tmp)
            return False, sha
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return True, sha
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
