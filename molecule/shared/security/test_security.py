"""Security verification of a deployed stack (issue 7): systemd exposure, firewall and ports
seen from other hosts, PostgreSQL exposure and privileges, nginx headers and TLS, file
ownership, secrets in files, Django's deploy check."""

import json
import shlex
import subprocess

import securitylib as lib


def exposure(host, unit):
    out = host.run(f"systemd-analyze security --no-pager {shlex.quote(unit)}")
    assert out.rc == 0, f"systemd-analyze security {unit}: {out.stderr}"
    return lib.parse_exposure(out.stdout)


def baseline_exposure(host, user):
    """The score of a unit without hardening (same user), for the before/after figure: a
    runtime unit in /run, removed again."""
    path = "/run/systemd/system/vitals-security-baseline.service"
    unit = f"[Service]\nUser={user}\nExecStart=/bin/true\n"
    host.check_output(f"mkdir -p /run/systemd/system && printf %s {shlex.quote(unit)} > {path}")
    host.check_output("systemctl daemon-reload")
    try:
        return exposure(host, "vitals-security-baseline.service")
    finally:
        host.run(f"rm -f {path} && systemctl daemon-reload")


def test_service_exposure(stack, report, app_host):
    """gunicorn's service and the health endpoint's service score at most 2.0."""
    v = stack.vars[app_host]
    host = stack.host(app_host)
    scores = {unit: exposure(host, unit) for unit in (f"{v['app_name']}.service", v["health_monitor_service"])}
    report[f"exposure {app_host}"] = dict(scores, baseline_unhardened=baseline_exposure(host, v["app_user"]))
    assert all(score <= lib.EXPOSURE_LIMIT for score in scores.values()), scores


def test_firewall_ruleset(stack, any_host):
    """The table inet vitals drops by default and accepts SSH first."""
    if not stack.vars[any_host].get("firewall_enabled", True):
        assert "table inet vitals" not in stack.host(any_host).check_output("nft list tables")
        return
    chain = stack.host(any_host).check_output("nft list chain inet vitals input")
    rules = [line.strip() for line in chain.splitlines() if line.strip()]
    assert "policy drop;" in rules[2], chain
    assert rules[3].endswith('accept comment "ssh"') and "dport 22" in rules[3], chain


def start_decoys(host, address, ports):
    """Listen on address for the ports nobody serves there; returns the ports bound."""
    path = "/run/vitals-security-decoy.json"
    host.run(f"rm -f {path}; systemctl stop vitals-security-decoy 2>/dev/null")
    args = " ".join(shlex.quote(a) for a in ("python3", "-c", lib.DECOY_SCRIPT, address, path, json.dumps(ports)))
    host.check_output(f"systemd-run --quiet --unit vitals-security-decoy --property RuntimeMaxSec=300 {args}")
    host.check_output(f"for i in $(seq 50); do test -e {path} && break; sleep 0.1; done; test -e {path}")
    return json.loads(host.check_output(f"cat {path}"))


def scan(host, targets):
    """{address: {port: state}} as seen from host; host None is the controller."""
    arg = json.dumps(targets)
    if host is None:
        out = subprocess.run(["python3", "-c", lib.SCAN_SCRIPT, arg], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)
    return json.loads(host.check_output(" ".join(shlex.quote(a) for a in ("python3", "-c", lib.SCAN_SCRIPT, arg))))


def test_ports_seen_from_other_hosts(stack, report, any_host):
    """From every other host and the controller, exactly the ports the rules admit are open.

    First the services as they are: open = admitted and listening beyond loopback. Then with
    decoy listeners on the free ports: open = admitted, so the firewall itself is proven."""
    target = stack.host(any_host)
    address = stack.addresses[any_host]
    fw = stack.vars[any_host]
    listening = lib.external_ports(lib.parse_listeners(target.check_output("ss -ltnH")))
    sources = {name: stack.addresses[name] for name in stack.vars if name != any_host}
    sources["controller"] = controller_address(target)
    ports = list(lib.SCAN_PORTS)

    def expected(src_address, decoys):
        return {
            str(p): "open"
            if lib.admitted(any_host, src_address, p, groups=stack.groups, addresses=stack.addresses, fw=fw)
            and (p in listening or p in decoys)
            else "not open"
            for p in ports
        }

    def seen_all(decoys):
        seen, want = {}, {}
        for name, src_address in sources.items():
            states = scan(None if name == "controller" else stack.host(name), {address: ports})[address]
            seen[name] = {p: s if s == "open" else "not open" for p, s in states.items()}
            want[name] = expected(src_address, decoys)
            report.setdefault(f"ports {any_host}{' (decoys)' if decoys else ''}", {})[name] = states
        return seen, want

    seen, want = seen_all(decoys=set())
    assert seen == want
    decoys = set(start_decoys(target, address, [p for p in ports if p not in listening]))
    try:
        seen, want = seen_all(decoys)
    finally:
        target.run("systemctl stop vitals-security-decoy")
    assert seen == want


def controller_address(host):
    """The controller as the host sees it: the source address of our SSH connection."""
    return host.check_output("echo ${SSH_CLIENT%% *}")


def test_health_endpoint_loopback_only(stack, app_host):
    port = stack.vars[app_host]["health_monitor_port"]
    listeners = lib.parse_listeners(stack.host(app_host).check_output(f"ss -ltnH 'sport = :{port}'"))
    assert listeners.get(port), f"nothing listens on {port}"
    assert all(lib.is_loopback(a) for a in listeners[port]), listeners


def psql(host, sql):
    return host.check_output(f"runuser -u postgres -- psql -XAt -F '|' -c {shlex.quote(sql)}")


def test_postgresql_listens_where_needed(stack, db_host):
    """localhost only, unless app hosts other than the db host itself connect."""
    listeners = lib.parse_listeners(stack.host(db_host).check_output("ss -ltnH 'sport = :5432'"))
    assert listeners.get(5432), "PostgreSQL does not listen on 5432"
    remote_apps = [h for h in stack.in_group("app") if h != db_host]
    if not remote_apps:
        assert all(lib.is_loopback(a) for a in listeners[5432]), listeners


def test_pg_hba_admits_only_app_hosts(stack, db_host):
    host = stack.host(db_host)
    cols = ["line_number", "type", "address", "netmask", "auth_method"]
    out = psql(host, f"select {', '.join(cols)} from pg_hba_file_rules where error is null")
    rules = [dict(zip(cols, line.split("|"), strict=True)) for line in out.splitlines()]
    assert rules, "no pg_hba rules"
    apps = [stack.addresses[h] for h in stack.in_group("app") if h != db_host]
    assert lib.hba_violations(rules, apps) == []
    assert psql(host, "select count(*) from pg_hba_file_rules where error is not null") == "0"


def test_app_role_is_unprivileged(stack, db_host):
    user = stack.vars[db_host]["app_db_user"]
    sql = f"select rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = '{user}'"
    row = psql(stack.host(db_host), sql)
    assert row == "f|f|f", f"{user}: rolsuper|rolcreatedb|rolcreaterole = {row}"


def tls_probe(stack, name):
    v = stack.vars[name]
    host = stack.host(name)
    args = ("python3", "-c", lib.TLS_SCRIPT, v["app_server_names"][0], "443")
    return json.loads(host.check_output(" ".join(shlex.quote(a) for a in args)))


def test_nginx_hides_its_version(stack, web_host):
    config = stack.host(web_host).check_output("nginx -T 2>/dev/null")
    assert "server_tokens off;" in config


def test_nginx_security_headers_and_tls(stack, report, edge_host):
    """HSTS, nosniff, Referrer-Policy, frame options; TLS 1.2 and 1.3 only, forward secret."""
    assert stack.vars[edge_host]["app_tls"], "the security checks need app_tls: true"
    probe = tls_probe(stack, edge_host)
    report[f"tls {edge_host}"] = {"versions": probe["versions"], "weak_cipher": probe["weak_cipher"]}
    headers = probe["headers"]
    assert headers.get("server", "nginx") == "nginx", headers.get("server")
    assert "max-age=" in headers.get("strict-transport-security", "")
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy")
    assert headers.get("x-frame-options", "").upper() in ("DENY", "SAMEORIGIN") or "frame-ancestors" in headers.get(
        "content-security-policy", ""
    )
    assert probe["versions"] == {"TLSv1": False, "TLSv1_1": False, "TLSv1_2": True, "TLSv1_3": True}
    assert probe["weak_cipher"] is False


def test_release_code_read_only_for_runtime_user(stack, app_host):
    v = stack.vars[app_host]
    host = stack.host(app_host)
    current = host.check_output(f"readlink -f {v['app_root']}/current")
    assert host.file(current).user == v["app_deploy_user"]
    assert host.file(f"{current}/manage.py").user == v["app_deploy_user"]
    # From /, which the runtime user may read (find goes back to its working directory).
    writable = host.run(f"cd / && runuser -u {v['app_user']} -- find {current} -writable -print -quit")
    assert writable.rc == 0 and writable.stdout == "", f"{v['app_user']} can write {writable.stdout.strip()}"
    assert host.run(f"runuser -u {v['app_user']} -- test -w {current}/manage.py").rc == 1
    assert host.run(f"runuser -u {v['app_user']} -- test -w {v['app_root']}/shared/media").rc == 0
    assert host.run(f"runuser -u {v['app_user']} -- test -w {v['app_root']}/shared/static").rc == 1


def test_env_file_private(stack, app_host):
    v = stack.vars[app_host]
    env = stack.host(app_host).file(f"{v['app_root']}/shared/env")
    assert env.mode == 0o600 and env.user == v["app_user"]


def host_secrets(stack, name):
    """{name: value}: the secrets of the inventory, and those of the env file on app hosts."""
    v = stack.vars[name]
    found = {"app_secret_key": v.get("app_secret_key", ""), "app_db_password": v.get("app_db_password", "")}
    if name in stack.in_group("app"):
        text = stack.host(name).check_output(f"cat {v['app_root']}/shared/env")
        found.update(lib.secrets_from_env(text))
    return {k: s for k, s in found.items() if len(s) >= lib.MIN_SECRET_LENGTH}


def test_secrets_only_in_their_files(stack, report, any_host):
    """No secret value in any file under /srv, /etc, /var, /root, /home, /tmp but the env file
    and .pgpass files, which are 0600/0640 and owned by their user."""
    v = stack.vars[any_host]
    host = stack.host(any_host)
    secrets = host_secrets(stack, any_host)
    assert secrets, "no secret to look for"
    patterns = "\n".join(secrets.values())
    # The values travel on stdin (printf is a shell builtin), never on a command line or in a file.
    out = host.run(
        f"printf '%s\\n' {shlex.quote(patterns)} | grep -rlFI -f - /srv /etc /var/log /var/lib/vitals /var/backups "
        "/root /home /tmp /var/tmp 2>/dev/null; true"
    )
    files = sorted(set(out.stdout.split()))
    # The files meant for them: the app's env file, .pgpass files, the health check list
    # (which may hold a database password for its checks).
    allowed = {f"{v['app_root']}/shared/env", "/etc/vitals/health.yml"}
    others = [f for f in files if f not in allowed and not f.endswith(".pgpass")]
    report[f"files holding secrets {any_host}"] = files
    assert others == [], f"secret values found in {others}"
    for path in files:
        f = host.file(path)
        assert f.mode in (0o600, 0o640), f"{path} is {oct(f.mode)}"


def manage(stack, name, *args):
    v = stack.vars[name]
    return stack.host(name).run(" ".join(shlex.quote(a) for a in (f"{v['app_root']}/bin/manage", *args)))


def test_django_check_deploy(stack, report, app_host):
    out = manage(stack, app_host, "check", "--deploy", "--fail-level", "WARNING")
    report[f"check --deploy {app_host}"] = (out.stdout + out.stderr).strip().splitlines()[-1:]
    assert out.rc == 0, out.stdout + out.stderr
    assert "no issues (0 silenced)" in out.stdout


def test_django_settings_from_inventory(stack, app_host):
    v = stack.vars[app_host]
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS, list(s.CSRF_TRUSTED_ORIGINS)]))"
    )
    out = manage(stack, app_host, "shell", "-c", code)
    assert out.rc == 0, out.stderr
    debug, allowed, csrf = json.loads(out.stdout.strip().splitlines()[-1])
    assert debug is False
    assert set(allowed) == set(v["app_server_names"])
    scheme = "https" if v["app_tls"] else "http"
    assert {f"{scheme}://{n}" for n in v["app_server_names"]} <= set(csrf)
