"""Item 4 of issue 12: the media check against a real nginx on loopback.

The media root is set up the way the release role sets it up (owner the app user, group
www-data, mode 2750, so files the app writes with UMask=0027 are 0640 in group www-data), and
the way it was before (group of the app user, 0755): nginx answers the app's files 403 there.
`nobody` plays the app user.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ansible_collections.vitals.django.plugins.module_utils.health.deps import SystemDeps
from ansible_collections.vitals.django.plugins.module_utils.health.runner import run_checks
from ansible_collections.vitals.django.plugins.module_utils.health.schema import validate_config
from conftest import free_port

NGINX_CONF = """
user www-data;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {base}/tmp;
    proxy_temp_path {base}/tmp;
    fastcgi_temp_path {base}/tmp;
    uwsgi_temp_path {base}/tmp;
    scgi_temp_path {base}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location /media/ {{
            alias {base}/media/;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx():
    if os.geteuid() != 0 or not shutil.which("nginx"):
        pytest.fail("needs root and nginx on the controller (make host-packages)")
    base = Path(tempfile.mkdtemp(prefix="vitals-health-nginx-"))
    base.chmod(0o755)
    (base / "tmp").mkdir()
    (base / "media").mkdir()
    port = free_port()
    conf = base / "nginx.conf"
    conf.write_text(NGINX_CONF.format(base=base, port=port))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
    for _attempt in range(50):
        if (base / "nginx.pid").exists():
            break
        time.sleep(0.1)
    try:
        yield {"base": base, "media": base / "media", "url": "http://127.0.0.1:%d/media/" % port}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def media_root(path, group, mode):
    shutil.chown(path, "nobody", group)
    path.chmod(mode)


def check(nginx):
    item = {"name": "media", "media": {"root": str(nginx["media"]), "url": nginx["url"], "user": "nobody"}}
    return run_checks(validate_config([item], within=5), SystemDeps())["checks"][0]


def test_media_written_by_the_app_is_served_with_the_shared_group(nginx):
    media_root(nginx["media"], "www-data", 0o2750)
    result = check(nginx)
    assert (result["status"], result["stopped"]) == ("ok", "passed"), result
    assert result["details"]["mode_owner"] == "640 nobody:www-data"
    assert os.listdir(nginx["media"]) == []


def test_media_unreadable_by_nginx_is_critical_then_green_once_fixed(nginx):
    media_root(nginx["media"], "nogroup", 0o755)
    result = check(nginx)
    assert (result["status"], result["stopped"], result["attempts"]) == ("critical", "definitive", 2)
    assert result["message"] == "a file the app wrote (640 nobody:nogroup) is answered HTTP 403: nginx cannot read it"
    assert os.listdir(nginx["media"]) == []
    media_root(nginx["media"], "www-data", 0o2750)
    assert check(nginx)["status"] == "ok"


def test_a_media_root_the_app_cannot_write_is_critical(nginx):
    media_root(nginx["media"], "www-data", 0o2750)
    shutil.chown(nginx["media"], "root", "www-data")
    result = check(nginx)
    assert result["status"] == "critical"
    assert "Permission denied" in result["message"]
