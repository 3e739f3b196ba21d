"""Wheelhouses per host target (issue 15): names, the server lines, the commands, and the builder's
decisions run against a fake toolchain that writes the files uv and pip would."""

import os
from pathlib import Path

import pytest
from ansible_collections.vitals.django.plugins.module_utils.release import wheelhouse as wh

T313 = "3.13-x86_64-manylinux_2_40"
T311 = "3.11-x86_64-manylinux_2_36"
GUNICORN = "gunicorn==27.0.1"
PSYCOPG = "psycopg[binary]==3.3.9"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("Django==5.2.19", "django"),
        ("psycopg[binary]==3.3.9 ; python_version >= '3.12'", "psycopg"),
        ("zope.interface>=6", "zope-interface"),
        ("typing_extensions==4.16.0  # via psycopg", "typing-extensions"),
        ("mypkg @ https://example.org/mypkg-1.0.tar.gz", "mypkg"),
        ("# a comment", None),
        ("-r base.txt", None),
        ("--only-binary=:all:", None),
        ("   ", None),
    ],
)
def test_requirement_name(line, name):
    assert wh.requirement_name(line) == name


def test_the_server_is_added_to_a_project_without_one():
    assert wh.server_requirements({"django"}, [GUNICORN, PSYCOPG]) == [GUNICORN, PSYCOPG]


def test_the_projects_own_server_and_driver_win():
    assert wh.server_requirements({"django", "gunicorn"}, [GUNICORN, PSYCOPG]) == [PSYCOPG]
    assert wh.server_requirements({"django", "psycopg2-binary"}, [GUNICORN, PSYCOPG]) == [GUNICORN]
    assert wh.server_requirements({"psycopg"}, [GUNICORN, PSYCOPG]) == [GUNICORN]


def test_a_server_line_without_a_package_is_refused():
    with pytest.raises(wh.WheelhouseError, match="names no package"):
        wh.server_requirements(set(), ["--pre"])


def test_target_names_cap_the_manylinux_level():
    assert wh.target_name("3.13", "x86_64", "glibc 2.41") == T313
    assert wh.target_name("3.11", "x86_64", "2.36") == T311
    assert wh.target_name("3.12", "aarch64", "2.39") == "3.12-aarch64-manylinux_2_39"


@pytest.mark.parametrize(
    ("python", "arch", "glibc"), [("3", "x86_64", "2.36"), ("3.13", "x86 64", "2.36"), ("3.13", "x86_64", "musl")]
)
def test_bad_targets_are_refused(python, arch, glibc):
    with pytest.raises(wh.WheelhouseError):
        wh.target_name(python, arch, glibc)


def test_platforms_of_a_target():
    assert wh.uv_platform(T311) == "x86_64-manylinux_2_36"
    tags = wh.pip_platforms(T311)
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux_2_5_x86_64" in tags
    assert "manylinux_2_37_x86_64" not in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "any"} <= set(tags)
    assert "manylinux2014_x86_64" not in wh.pip_platforms("3.13-x86_64-manylinux_2_12")


def test_compile_resolves_for_the_host_not_the_controller():
    argv = wh.compile_argv("uv", "/usr/bin/python3", ["req.txt", "server.in"], T313, "lock.txt")
    assert argv[:5] == ["uv", "pip", "compile", "req.txt", "server.in"]
    assert argv[argv.index("--python-version") + 1] == "3.13"
    assert argv[argv.index("--python-platform") + 1] == "x86_64-manylinux_2_40"
    assert "--generate-hashes" in argv
    assert wh.UV_ENV["UV_PYTHON_DOWNLOADS"] == "never"


def test_download_fetches_only_locked_files_for_the_target():
    argv = wh.download_argv("/venv/bin/python", "lock.txt", T313, "dl")
    assert {"--no-deps", "--require-hashes"} <= set(argv)
    assert argv[argv.index("--python-version") + 1] == "3.13"
    abis = [argv[i + 1] for i, a in enumerate(argv) if a == "--abi"]
    assert abis == ["cp313", "abi3", "none"]
    assert "manylinux_2_40_x86_64" in [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]


@pytest.mark.parametrize(
    ("filename", "pure"),
    [
        ("docopt-0.6.2-py2.py3-none-any.whl", True),
        ("six-1.17.0-py3-none-any.whl", True),
        ("ujson-1.35-cp311-cp311-linux_x86_64.whl", False),
        ("psycopg_binary-3.3.9-cp313-cp313-manylinux_2_17_x86_64.whl", False),
        ("cryptography-46.0.0-cp311-abi3-manylinux_2_28_x86_64.whl", False),
        ("pkg-1.0-1-cp311-none-any.whl", False),
    ],
)
def test_is_pure_wheel(filename, pure):
    assert wh.is_pure_wheel(filename) is pure


def test_a_non_wheel_name_is_refused():
    with pytest.raises(wh.WheelhouseError):
        wh.wheel_tags("docopt-0.6.2.tar.gz")


def test_locked_pins_drop_hashes_and_comments():
    lock = (
        "django==5.2.19 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
        "Typing_Extensions==4.16.0 \\\n    --hash=sha256:cc\n    # via psycopg\n"
    )
    assert wh.locked_pins(lock) == ["django==5.2.19", "typing-extensions==4.16.0"]


def test_the_key_depends_on_requirements_target_and_uv():
    key = wh.wheelhouse_key(["django==5.2.19\n"], T313, "uv 0.13.9")
    assert key == wh.wheelhouse_key(["django==5.2.19\n"], T313, "uv 0.13.9")
    assert key != wh.wheelhouse_key(["django==5.2.20\n"], T313, "uv 0.13.9")
    assert key != wh.wheelhouse_key(["django==5.2.19\n"], T311, "uv 0.13.9")
    assert key != wh.wheelhouse_key(["django==5.2.19\n"], T313, "uv 0.14.0")


class FakeTools:
    """uv compile writes a lock; pip download writes the files of `index`; uv build writes `built`.

    index: target -> list of file names; built: sdist name -> wheel name (None: the build fails).
    """

    def __init__(self, index, built):
        self.index = index
        self.built = built
        self.calls = []

    def __call__(self, argv, env):
        self.calls.append(argv)
        assert env["UV_PYTHON_DOWNLOADS"] == "never"
        if argv[1:3] == ["pip", "compile"]:
            target = next(t for t in self.index if argv[argv.index("--python-version") + 1] == t.split("-")[0])
            names = sorted({f.split("-")[0] for f in self.index[target]})
            Path(argv[argv.index("--output-file") + 1]).write_text(
                "".join(f"{n}==1.0 \\\n    --hash=sha256:00\n" for n in names)
            )
            return 0, "", ""
        if argv[1:4] == ["-m", "pip", "download"]:
            version = argv[argv.index("--python-version") + 1]
            target = next(t for t in self.index if t.startswith(version + "-"))
            for name in self.index[target]:
                Path(argv[argv.index("--dest") + 1], name).write_bytes(name.encode())
            return 0, "", ""
        if argv[1] == "build":
            wheel = self.built[os.path.basename(argv[-1])]
            if wheel is None:
                return 1, "", "error: command 'gcc' failed"
            Path(argv[argv.index("--out-dir") + 1], wheel).write_bytes(b"wheel")
            return 0, "", ""
        raise AssertionError(argv)


def build(tmp_path, tools, requirements="docopt==0.6.2\n", targets=(T313, T311)):
    req = tmp_path / "requirements.txt"
    req.write_text(requirements)
    return wh.build_wheelhouses(
        list(targets),
        str(req),
        [GUNICORN, PSYCOPG],
        cache_dir=str(tmp_path / "cache"),
        uv="uv",
        python="python",
        uv_version="uv 0.13.9",
        run=tools,
    )


INDEX = {
    T313: ["docopt-0.6.2.tar.gz", "six-1.17.0-py3-none-any.whl", "gunicorn-27.0.1-py3-none-any.whl"],
    T311: ["docopt-0.6.2.tar.gz", "toml-0.10.2-py3-none-any.whl", "gunicorn-27.0.1-py3-none-any.whl"],
}


def test_each_target_gets_its_own_files_and_a_pure_sdist_is_built_once(tmp_path):
    tools = FakeTools(INDEX, {"docopt-0.6.2.tar.gz": "docopt-0.6.2-py2.py3-none-any.whl"})
    changed, houses, added = build(tmp_path, tools)
    assert changed
    assert added == [GUNICORN, PSYCOPG]
    files = {t: sorted(os.listdir(h["path"])) for t, h in houses.items()}
    assert "six-1.17.0-py3-none-any.whl" in files[T313]
    assert "six-1.17.0-py3-none-any.whl" not in files[T311]
    assert "toml-0.10.2-py3-none-any.whl" in files[T311]
    for names in files.values():
        assert "docopt-0.6.2-py2.py3-none-any.whl" in names
        assert "docopt-0.6.2.tar.gz" not in names
        assert wh.LOCK_NAME in names
    assert houses[T313]["pins"] == ["docopt==1.0", "gunicorn==1.0", "six==1.0"]
    assert (Path(houses[T313]["path"]) / wh.LOCK_NAME).read_text() == "docopt==1.0\ngunicorn==1.0\nsix==1.0\n"
    assert sum(1 for argv in tools.calls if argv[1] == "build") == 1
    assert (tmp_path / "cache" / "server.in").read_text() == f"{GUNICORN}\n{PSYCOPG}\n"


def test_an_unchanged_project_runs_nothing_the_second_time(tmp_path):
    tools = FakeTools(INDEX, {"docopt-0.6.2.tar.gz": "docopt-0.6.2-py2.py3-none-any.whl"})
    _changed, first, _added = build(tmp_path, tools)
    tools.calls.clear()
    changed, again, _added = build(tmp_path, tools)
    assert not changed
    assert again == first
    assert tools.calls == []


def test_changed_requirements_build_a_new_wheelhouse(tmp_path):
    tools = FakeTools(INDEX, {"docopt-0.6.2.tar.gz": "docopt-0.6.2-py2.py3-none-any.whl"})
    _changed, first, _added = build(tmp_path, tools, targets=[T313])
    changed, second, _added = build(tmp_path, tools, requirements="docopt==0.6.2\nsix\n", targets=[T313])
    assert changed
    assert second[T313]["path"] != first[T313]["path"]


def test_a_compiled_sdist_without_a_wheel_fails_naming_package_and_platform(tmp_path):
    index = {T313: ["ujson-1.35.tar.gz"]}
    tools = FakeTools(index, {"ujson-1.35.tar.gz": "ujson-1.35-cp311-cp311-linux_x86_64.whl"})
    with pytest.raises(
        wh.WheelhouseError, match=r"ujson-1\.35\.tar\.gz has no wheel for Python 3\.13 on x86_64-manylinux_2_40"
    ):
        build(tmp_path, tools, requirements="ujson==1.35\n", targets=[T313])
    assert list((tmp_path / "cache" / "wheelhouse").glob("*.done")) == []


def test_an_sdist_that_does_not_build_fails_naming_it(tmp_path):
    tools = FakeTools({T313: ["ujson-1.35.tar.gz"]}, {"ujson-1.35.tar.gz": None})
    with pytest.raises(wh.WheelhouseError, match=r"ujson-1\.35\.tar\.gz has no wheel .*'gcc'"):
        build(tmp_path, tools, requirements="ujson==1.35\n", targets=[T313])


def test_a_failed_resolution_names_the_target(tmp_path):
    def run(argv, env):
        return 1, "", "error: Because there is no version of sqlparse==99.0.0 ..."

    req = tmp_path / "requirements.txt"
    req.write_text("sqlparse==99.0.0\n")
    with pytest.raises(wh.WheelhouseError, match=r"resolving for 3\.13-x86_64-manylinux_2_40 .*sqlparse==99\.0\.0"):
        wh.build_wheelhouses(
            [T313], str(req), [], cache_dir=str(tmp_path / "c"), uv="uv", python="py", uv_version="uv", run=run
        )
