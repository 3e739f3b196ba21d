"""Stand-in for the get-pip script that ansible-test downloads to bootstrap pip.

ansible-test fetches get-pip from a CI file host this network cannot reach, but uses
~/.ansible/test/cache/get_pip_<version>.py when it exists. `make sanity` installs this
file there, next to the pip wheel of that version downloaded from PyPI. get-pip's own
flags (--no-setuptools, --no-wheel) are not pip flags, so they are dropped.
"""

import glob
import importlib
import os
import sys

GET_PIP_FLAGS = {"--no-setuptools", "--no-wheel"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(here, "pip-*-py3-none-any.whl")))
    if not wheels:
        sys.exit("no pip wheel beside %s: run `make sanity`, which downloads it" % __file__)
    sys.path.insert(0, wheels[-1])
    pip_main = importlib.import_module("pip._internal.cli.main").main

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_FLAGS]
    sys.exit(pip_main(["install", "--upgrade", "--force-reinstall"] + args))


if __name__ == "__main__":
    main()
