"""Item 8 of issue 12: the module's DOCUMENTATION and argument spec describe exactly schema.py.

The schema is written once in module_utils/health/schema.py (the module, the CLI and the filter
validate with it); the module's documentation repeats it for ansible-doc. This test ties the two:
every check type, every option, whether it is required, its default and its choices."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible_collections.vitals.django.plugins.module_utils.health.schema import (
    COMMON_KEYS,
    DEFAULT_TIMEOUT,
    SCHEMA,
    SEVERITIES,
    validate_config,
)

MODULE = Path(__file__).resolve().parents[3] / "plugins" / "modules" / "health.py"


def load_module():
    spec = importlib.util.spec_from_file_location("health_module", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HEALTH = load_module()
DOC = yaml.safe_load(HEALTH.DOCUMENTATION)
CHECK_DOC = DOC["options"]["checks"]["suboptions"]


def test_every_check_type_and_common_key_is_documented_and_nothing_else():
    assert set(CHECK_DOC) == set(SCHEMA) | set(COMMON_KEYS)


def test_common_keys_match():
    assert CHECK_DOC["severity"]["choices"] == list(SEVERITIES)
    assert CHECK_DOC["timeout"]["default"] == DEFAULT_TIMEOUT
    assert CHECK_DOC["name"]["required"] is True


@pytest.mark.parametrize("ctype", sorted(SCHEMA))
def test_options_of_each_type_match(ctype):
    documented = CHECK_DOC[ctype]["suboptions"]
    assert set(documented) == set(SCHEMA[ctype]), ctype
    for key, opt in SCHEMA[ctype].items():
        doc = documented[key]
        assert bool(doc.get("required", False)) == opt.required, "%s.%s required" % (ctype, key)
        if "default" in doc:
            # The documented default, validated by the schema, is the schema's own default.
            assert opt.default is not None, "%s.%s documents a default the schema does not have" % (ctype, key)
            assert _converted(ctype, key, doc["default"]) == opt.default, "%s.%s default" % (ctype, key)
        else:
            assert opt.default in (None, {}), "%s.%s has an undocumented default %r" % (ctype, key, opt.default)
        if "choices" in doc:
            for choice in doc["choices"]:
                assert _converted(ctype, key, choice) == choice
            with pytest.raises(ValueError):
                opt.convert("not-one-of-the-choices")


def _converted(ctype, key, value):
    return SCHEMA[ctype][key].convert(value)


def test_the_argument_spec_matches_the_documented_top_level_options():
    spec = HEALTH.ARGUMENT_SPEC
    assert set(spec) == set(DOC["options"])
    for key, entry in spec.items():
        doc = DOC["options"][key]
        assert entry["type"] == doc["type"], key
        assert entry.get("default") == doc.get("default"), key
        assert entry.get("required", False) == doc.get("required", False), key


def test_the_examples_validate():
    for task in yaml.safe_load(HEALTH.EXAMPLES):
        options = task["vitals.django.health"]
        validate_config(options["checks"], within=options.get("within", 0), delay=options.get("delay", 2))
