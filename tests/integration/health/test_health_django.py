"""The django check against the real example project: manage.py check --deploy and migrate --check."""

import subprocess


def django_check(django_release, **options):
    return {
        "name": "django",
        "django": {"release": django_release["release"], "env_file": django_release["env_file"], **options},
    }


def health(*checks):
    return [{"name": "Run health checks", "vitals.django.health": {"checks": list(checks)}}]


def migrate(django_release):
    env = {"SECRET_KEY": django_release["secret"], "DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"}
    python = django_release["release"] + "/venv/bin/python"
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput"],
        cwd=django_release["release"],
        env=env,
        check=True,
        capture_output=True,
    )


def test_pending_migrations_fail_then_deploy_warnings_pass(playbook, django_release):
    run = playbook(health(django_check(django_release)))
    assert run.rc == 2, run.stdout
    check = run.task_result()["checks"][0]
    assert check["status"] == "critical"
    assert "19 pending migrations: " in check["message"]
    assert "catalog.0001_initial" in check["details"]["pending_migrations"]
    assert django_release["secret"] not in run.stdout

    migrate(django_release)
    run = playbook(health(django_check(django_release, user="nobody")))
    assert run.rc == 0, run.stdout
    result = run.task_result()
    check = result["checks"][0]
    # Without TLS settings, Django's deploy checks warn (HSTS, secure cookies): warnings pass but show.
    assert check["status"] == "warning", check
    assert "security.W004" in check["details"]["deploy_check"]["warnings"]
    assert check["details"]["pending_migrations"] == []
    assert "Warnings: django (django, warning): check --deploy warnings: " in result["msg"]
    assert django_release["secret"] not in run.stdout


def test_broken_settings_are_critical_without_leaking_the_env(playbook, django_release):
    run = playbook(health(django_check(django_release, settings="config.missing", migrations=False)))
    assert run.rc == 2
    check = run.task_result()["checks"][0]
    assert check["status"] == "critical"
    assert "No module named 'config.missing'" in check["message"]
    assert django_release["secret"] not in run.stdout
