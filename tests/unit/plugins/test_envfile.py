"""The one env-file parser of the health checks, the cron runner and bin/manage."""

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.envfile import parse_env_file


def test_reads_what_the_release_role_writes():
    text = "# Ansible managed\n# Read by systemd\nDATABASE_URL='postgres://u:p@h/db'\nDEBUG='0'\n"
    assert parse_env_file(text) == {"DATABASE_URL": "postgres://u:p@h/db", "DEBUG": "0"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\n\n# c\n", {"A": "1"}),
        ('export B="two words"\n', {"B": "two words"}),
        ("export   C=x=y\n", {"C": "x=y"}),
        ("D='it''s'\n", {"D": "it''s"}),
        ("E=\"mixed'\n", {"E": "\"mixed'"}),
        ("  F = spaced  \n", {"F": "spaced"}),
        ("G=\n", {"G": ""}),
        ("H='\n", {"H": "'"}),
        ("broken line\n=novalue\n", {}),
        ("I=1\nI=2\n", {"I": "2"}),
    ],
)
def test_lines(text, expected):
    assert parse_env_file(text) == expected
