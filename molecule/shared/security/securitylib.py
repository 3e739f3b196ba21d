"""Pure helpers of the security verification: parse what hosts report, and say what the
firewall rules of roles/firewall should let through. No host access here, so the logic is
unit-tested without hosts (tests/unit/test_securitylib.py)."""

import ipaddress
import re

# Ports the scan probes on every host: SSH, web, PostgreSQL, the health endpoint.
SCAN_PORTS = (22, 80, 443, 5432, 9105)
EXPOSURE_LIMIT = 2.0
# Names of environment variables whose values are secrets.
SECRET_NAME_RE = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY)", re.IGNORECASE)
# user:password@ in a URL (DATABASE_URL and the like).
URL_PASSWORD_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^:/@]*:([^@/]+)@", re.IGNORECASE)
# Values this short would match by accident anywhere; the app role refuses them anyway.
MIN_SECRET_LENGTH = 8

# Run on a host with python3: connect to every (address, port) concurrently and print
# {"port": "open" | "closed" | "filtered"} per address as JSON. Filtered = no answer (dropped).
SCAN_SCRIPT = r"""
import concurrent.futures, json, socket, sys
targets = json.loads(sys.argv[1])
def probe(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.settimeout(1)
    try:
        s.connect((addr, port))
        return "open"
    except ConnectionRefusedError:
        return "closed"
    except OSError:
        return "filtered"
    finally:
        s.close()
with concurrent.futures.ThreadPoolExecutor(32) as ex:
    futs = {(a, p): ex.submit(probe, a, p) for a, ports in targets.items() for p in ports}
print(json.dumps({a: {str(p): futs[(a, p)].result() for p in ports} for a, ports in targets.items()}))
"""

# Run on a host in the background: listen on ADDRESS for each given port nobody serves there
# yet, so the scan sees what the firewall lets through even where no service listens. Writes
# the ports it bound to PATH, then serves until stopped (or 300 s).
DECOY_SCRIPT = r"""
import json, socket, sys, threading, time
addr, path, ports = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
bound = []
for p in ports:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    try:
        s.bind((addr, p))
        s.listen(16)
    except OSError:
        s.close()
        continue
    bound.append(p)
    def serve(sock=s):
        while True:
            sock.accept()[0].close()
    threading.Thread(target=serve, daemon=True).start()
with open(path + ".tmp", "w") as f:
    json.dump(bound, f)
import os
os.rename(path + ".tmp", path)
time.sleep(300)
"""

# Run on a host: the response headers of GET / over https://127.0.0.1 with a Host header, and
# which TLS versions (and a non forward-secret cipher) the server accepts.
TLS_SCRIPT = r"""
import http.client, json, socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
def ctx(version=None, ciphers=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if version:
        c.minimum_version = c.maximum_version = version
        c.set_ciphers("ALL:@SECLEVEL=0")
    if ciphers:
        c.maximum_version = ssl.TLSVersion.TLSv1_2
        c.set_ciphers(ciphers + ":@SECLEVEL=0")
    return c
def accepts(c):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with c.wrap_socket(raw, server_hostname=host):
                return True
    except (ssl.SSLError, OSError):
        return False
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx(), timeout=10)
conn.request("GET", "/", headers={"Host": host})
resp = conn.getresponse()
versions = {v: accepts(ctx(getattr(ssl.TLSVersion, v))) for v in ("TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3")}
print(json.dumps({
    "status": resp.status,
    "headers": {k.lower(): v for k, v in resp.getheaders()},
    "versions": versions,
    "weak_cipher": accepts(ctx(ciphers="AES128-SHA:AES256-SHA:DES-CBC3-SHA")),
}))
"""


def parse_exposure(text):
    """The number of systemd-analyze security's "Overall exposure level for X: 1.9 OK" line."""
    match = re.search(r"Overall exposure level for \S+:\s*([0-9]+(?:\.[0-9]+)?)", text)
    if not match:
        raise ValueError("no 'Overall exposure level' line in systemd-analyze output")
    return float(match.group(1))


def parse_listeners(ss_output):
    """{port: {address, ...}} from `ss -ltnH` output (local address in the 4th column)."""
    listeners = {}
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        addr, _sep, port = fields[3].rpartition(":")
        addr = addr.strip("[]").split("%")[0]
        listeners.setdefault(int(port), set()).add(addr)
    return listeners


def is_loopback(address):
    """True for 127.0.0.0/8 and ::1 (ss prints wildcards as * / 0.0.0.0 / ::)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def external_ports(listeners):
    """Ports with at least one listener reachable from the network (not loopback only)."""
    return {port for port, addrs in listeners.items() if any(not is_loopback(a) for a in addrs)}


def in_sources(address, sources):
    """True when address is one of sources (addresses or networks); empty sources = anyone."""
    if not sources:
        return True
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(s, strict=False) for s in sources)


def admitted(target, source_address, port, *, groups, addresses, fw):
    """Whether roles/firewall's ruleset on `target` accepts a new TCP connection to `port`
    from `source_address`. groups: {group: [host]}; addresses: {host: address};
    fw: the firewall_* settings (role defaults apply to missing keys)."""
    app = groups.get(fw.get("firewall_app_group", "app"), [])
    lb = groups.get(fw.get("firewall_lb_group", "lb"), [])
    db = groups.get(fw.get("firewall_db_group", "db"), [])
    if not fw.get("firewall_enabled", True):
        return True
    if port == fw.get("firewall_ssh_port", 22):
        return in_sources(source_address, fw.get("firewall_ssh_sources", []))
    if port in fw.get("firewall_loopback_only_ports", [9105]):
        return False
    allowed = False
    if port in fw.get("firewall_web_ports", [80, 443]) and (target in app or target in lb):
        from_lb_only = fw.get("firewall_app_only_from_lb", False) and target in app and target not in lb and lb
        allowed = not from_lb_only or source_address in [addresses[h] for h in lb]
    if port == fw.get("firewall_db_port", 5432) and target in db:
        app_sources = [addresses[h] for h in app] + list(fw.get("firewall_db_sources", []))
        allowed = allowed or in_sources(source_address, app_sources)
    for rule in fw.get("firewall_extra_rules", []):
        low, _sep, high = str(rule["port"]).partition("-")
        if rule.get("proto", "tcp") == "tcp" and int(low) <= port <= int(high or low):
            allowed = allowed or in_sources(source_address, rule.get("sources", []))
    return allowed


def secrets_from_env(text):
    """{name: value} of the secret-looking variables of an env file (KEY=VALUE lines, optional
    quotes), with the password of any URL value as <NAME>:password."""
    found = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _sep, value = line.removeprefix("export ").partition("=")
        value = value.strip().strip("'\"")
        if SECRET_NAME_RE.search(name):
            found[name.strip()] = value
        url = URL_PASSWORD_RE.match(value)
        if url:
            found[name.strip() + ":password"] = url.group(1)
    return {k: v for k, v in found.items() if len(v) >= MIN_SECRET_LENGTH}


def leaked(text, secrets):
    """Names of the secrets whose value occurs in text."""
    return sorted(name for name, value in secrets.items() if value in text)


def hba_violations(rules, app_addresses):
    """Problems in pg_hba rules (dicts of pg_hba_file_rules columns line_number, type, address,
    netmask, auth_method): a network rule must use scram-sha-256 and admit loopback or single
    app host addresses only. Unix-socket (local) and reject rules are fine."""
    problems = []
    allowed = {ipaddress.ip_address(a) for a in app_addresses}
    for rule in rules:
        if rule["type"] == "local" or rule["auth_method"] == "reject":
            continue
        where = f"line {rule['line_number']}"
        if rule["auth_method"] != "scram-sha-256":
            problems.append(f"{where}: {rule['type']} uses {rule['auth_method']}")
        try:
            # pg_hba_file_rules gives netmasks as addresses (255.255.255.0, ffff:...); count their bits.
            bits = bin(int(ipaddress.ip_address(rule["netmask"]))).count("1") if rule["netmask"] else None
            net = ipaddress.ip_network(rule["address"] + ("" if bits is None else f"/{bits}"), strict=False)
        except ValueError:
            problems.append(f"{where}: admits {rule['address'] or 'any address'}")
            continue
        if not net.network_address.is_loopback and (net.num_addresses != 1 or net.network_address not in allowed):
            problems.append(f"{where}: admits {net}, not only app hosts")
    return problems
