# Copyright: vitals.django contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wheelhouses resolved for each host's Python and platform, built on the controller.

The controller runs Python 3.11 while hosts run 3.13 (Debian 13) or 3.11 (Debian 12), so the
requirements are resolved as the host's interpreter would (``uv pip compile --python-version
--python-platform``: markers are evaluated for the host), then exactly the resolved files are
downloaded, checked against their sha256. Source-only packages are built once on the controller;
only pure-Python ones (``none-any`` wheels) can serve a host, any other stops the build.

The commands run through a ``run(argv, env)`` callable (rc, stdout, stderr), so the logic is
tested without network or uv.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

# The newest manylinux_2_N that uv accepts in --python-platform; a newer glibc still runs them.
MANYLINUX_MAX_MINOR = 40
# Packages that mean "the project has chosen its PostgreSQL driver".
POSTGRES_DRIVERS = frozenset(
    ("psycopg", "psycopg-binary", "psycopg-c", "psycopg2", "psycopg2-binary", "psycopg2cffi", "pg8000")
)
LOCK_NAME = "requirements.lock"
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")
# uv must never fetch an interpreter: it resolves for a version, it does not run one.
UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


class WheelhouseError(Exception):
    """The wheelhouse cannot be built; the message names the package or the step."""


def canonical_name(name):
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line):
    """Canonical project name of one requirements-file line, or None for comments and options."""
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-")):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return canonical_name(match.group(0)) if match else None


def requirement_names(text):
    """Canonical names of the projects a requirements file lists (its own lines, not -r includes)."""
    return {name for name in map(requirement_name, text.splitlines()) if name}


def server_requirements(project_names, server):
    """The server requirements to add: those the project does not choose itself.

    A project's own line wins over ours; any PostgreSQL driver of the project replaces psycopg.
    """
    kept = []
    for line in server:
        name = requirement_name(line)
        if name is None:
            raise WheelhouseError(f"server requirement {line!r} names no package")
        chosen = project_names & POSTGRES_DRIVERS if name in POSTGRES_DRIVERS else {name} & project_names
        if not chosen:
            kept.append(line)
    return kept


def glibc_minor(version):
    """Minor of a glibc version ("2.36", "glibc 2.41"): the N of manylinux_2_N."""
    match = re.search(r"\b2\.(\d+)", version or "")
    if not match:
        raise WheelhouseError(f"cannot read a glibc version from {version!r}")
    return int(match.group(1))


def target_name(python, arch, glibc):
    """Name of a wheel target, e.g. 3.13-x86_64-manylinux_2_40 (glibc capped at 2.40)."""
    if not re.fullmatch(r"3\.\d+", python or ""):
        raise WheelhouseError(f"python must be X.Y, got {python!r}")
    if not re.fullmatch(r"[a-z0-9_]+", arch or ""):
        raise WheelhouseError(f"bad architecture {arch!r}")
    return f"{python}-{arch}-manylinux_2_{min(glibc_minor(glibc), MANYLINUX_MAX_MINOR)}"


def parse_target(name):
    """(python, arch, manylinux minor) of a target name."""
    match = re.fullmatch(r"(3\.\d+)-([a-z0-9_]+)-manylinux_2_(\d+)", name)
    if not match:
        raise WheelhouseError(f"bad wheel target {name!r}")
    return match.group(1), match.group(2), int(match.group(3))


def uv_platform(name):
    """The --python-platform value uv takes for a target."""
    _python, arch, minor = parse_target(name)
    return f"{arch}-manylinux_2_{minor}"


def pip_platforms(name):
    """Every platform tag a host of the target runs, newest first (pip does not expand them)."""
    _python, arch, minor = parse_target(name)
    tags = [f"manylinux_2_{n}_{arch}" for n in range(minor, 4, -1)]
    # The legacy aliases of manylinux_2_17, 2_12 and 2_5 that older wheels still carry.
    tags += [f"manylinux{alias}_{arch}" for alias, n in (("2014", 17), ("2010", 12), ("1", 5)) if minor >= n]
    return tags + ["any"]


def compile_argv(uv, python, sources, target, output):
    """uv pip compile for the target's Python and platform, exact versions with every hash."""
    version = parse_target(target)[0]
    return [uv, "pip", "compile", *sources, "--python", python, "--python-version", version,
            "--python-platform", uv_platform(target), "--generate-hashes", "--no-header",
            "--no-annotate", "--quiet", "--output-file", output]  # fmt: skip


def download_argv(python, lock, target, dest):
    """pip download of exactly the locked files for the target (sha256 checked, no resolution)."""
    version = parse_target(target)[0]
    nodot = version.replace(".", "")
    argv = [python, "-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check",
            "--no-input", "--python-version", version, "--implementation", "cp",
            "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]  # fmt: skip
    for tag in pip_platforms(target):
        argv += ["--platform", tag]
    return argv + ["--dest", dest, "-r", lock]


def build_argv(uv, python, sdist, out_dir):
    """uv build of a wheel from a source distribution, with the controller's Python."""
    return [uv, "build", "--wheel", "--python", python, "--out-dir", out_dir, "--quiet", sdist]


def wheel_tags(filename):
    """(name, version, python, abi, platform) of a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelhouseError(f"{filename} is not a wheel file name")
    return parts[0], parts[1], parts[-3], parts[-2], parts[-1]


def is_pure_wheel(filename):
    """True for a wheel any CPython 3 on any platform installs (py3-none-any and the like)."""
    _name, _version, python, abi, platform = wheel_tags(filename)
    return abi == "none" and platform == "any" and all(tag.startswith("py") for tag in python.split("."))


def is_sdist(filename):
    return filename.endswith(SDIST_SUFFIXES)


def locked_pins(lock_text):
    """name==version lines of a uv lock, sorted, without hashes or comments: what the host installs."""
    pins = []
    for line in lock_text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line.strip())
        if match and not line.startswith((" ", "\t")):
            pins.append(f"{canonical_name(match.group(1))}=={match.group(2)}")
    return sorted(pins)


def wheelhouse_key(texts, target, uv_version):
    """Cache key of a wheelhouse: the requirement files, the server lines, the target and uv."""
    digest = hashlib.sha256()
    for text in [*texts, target, uv_version]:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tail(text, lines=5):
    return " / ".join(text.strip().splitlines()[-lines:])


class Builder:
    """Fills <cache>/wheelhouse/<target>-<key>/ with the target's wheels and requirements.lock.

    A finished wheelhouse has a <dir>.done file; it is reused without running anything, so an
    unchanged project builds with no resolution and no download.
    """

    def __init__(self, cache_dir, uv, python, run):
        self.cache_dir = cache_dir
        self.uv = uv
        self.python = python
        self.run = run

    def _run(self, argv, step):
        rc, out, err = self.run(argv, UV_ENV)
        if rc != 0:
            raise WheelhouseError(f"{step} failed (rc {rc}): {tail(err or out)}")
        return out

    def pure_wheel(self, sdist, target):
        """The pure wheel built from sdist (cached by the sdist's sha256); fails when it is compiled."""
        filename = os.path.basename(sdist)
        python, _arch, _minor = parse_target(target)
        where = f"Python {python} on {uv_platform(target)}"
        out_dir = os.path.join(self.cache_dir, "built", sha256_of(sdist)[:16])
        wheels = [n for n in os.listdir(out_dir) if n.endswith(".whl")] if os.path.isdir(out_dir) else []
        if not wheels:
            tmp = out_dir + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            rc, out, err = self.run(build_argv(self.uv, self.python, sdist, tmp), UV_ENV)
            if rc != 0:
                raise WheelhouseError(
                    f"{filename} has no wheel for {where} and does not build on the controller: {tail(err or out)}"
                )
            shutil.rmtree(out_dir, ignore_errors=True)
            os.replace(tmp, out_dir)
            wheels = [n for n in os.listdir(out_dir) if n.endswith(".whl")]
        if len(wheels) != 1 or not is_pure_wheel(wheels[0]):
            raise WheelhouseError(
                f"{filename} has no wheel for {where} and builds compiled code ({', '.join(wheels)}): "
                "publish or pin a version with a wheel for this platform"
            )
        return os.path.join(out_dir, wheels[0])

    def wheelhouse(self, target, sources, texts, uv_version):
        """(path, changed, pins) of the target's wheelhouse; built unless already done."""
        path = os.path.join(self.cache_dir, "wheelhouse", f"{target}-{wheelhouse_key(texts, target, uv_version)}")
        done = path + ".done"
        if os.path.isfile(done) and os.path.isdir(path):
            with open(done, encoding="utf-8") as f:
                return path, False, json.load(f)["pins"]
        work = path + ".work"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "download"))
        lock = os.path.join(work, "lock.txt")
        self._run(compile_argv(self.uv, self.python, sources, target, lock), f"resolving for {target}")
        self._run(download_argv(self.python, lock, target, os.path.join(work, "download")), f"download for {target}")
        house = os.path.join(work, "wheelhouse")
        os.makedirs(house)
        for name in sorted(os.listdir(os.path.join(work, "download"))):
            fetched = os.path.join(work, "download", name)
            if is_sdist(name):
                fetched = self.pure_wheel(fetched, target)
            shutil.copy2(fetched, os.path.join(house, os.path.basename(fetched)))
        with open(lock, encoding="utf-8") as f:
            pins = locked_pins(f.read())
        with open(os.path.join(house, LOCK_NAME), "w", encoding="utf-8") as f:
            f.write("".join(pin + "\n" for pin in pins))
        shutil.rmtree(path, ignore_errors=True)
        os.replace(house, path)
        shutil.rmtree(work)
        with open(done, "w", encoding="utf-8") as f:
            json.dump({"pins": pins}, f)
        return path, True, pins


def build_wheelhouses(targets, requirements, server, *, cache_dir, uv, python, uv_version, run):
    """Build (or reuse) one wheelhouse per target. Returns (changed, {target: {path, pins}}, added).

    requirements: the project's requirements file; server: the lines the collection adds unless
    the project chooses its own (the ones kept are returned as `added`).
    """
    with open(requirements, encoding="utf-8") as f:
        project_text = f.read()
    added = server_requirements(requirement_names(project_text), server)
    sources = [requirements]
    if added:
        server_in = os.path.join(cache_dir, "server.in")
        os.makedirs(cache_dir, exist_ok=True)
        with open(server_in, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in added))
        sources.append(server_in)
    builder = Builder(cache_dir, uv, python, run)
    houses = {}
    changed = False
    for target in sorted(set(targets)):
        path, built, pins = builder.wheelhouse(target, sources, [project_text, *added], uv_version)
        changed = changed or built
        houses[target] = {"path": path, "pins": pins}
    return changed, houses, added
