"""Real Debian test hosts for vitals.django: debootstrap + `systemd-nspawn -b`, reached over SSH.

A *lab* is a set of hosts sharing one bridge, one /24, one nft masquerade table and one state
directory (/var/lib/vitals-testhosts/<lab>/). Several labs run side by side without touching each
other. The base root filesystem is built once per Debian release and cached under
/var/cache/vitals-testhosts/base-<release>/. Hosts run systemd-nspawn without machined (the
controller's PID 1 is not systemd) on hybrid cgroups: comments below say why each step is needed.

    python3 tools/testhosts.py up --lab NAME --hosts-json FILE|-      # [{name, address?, release?, groups?}]
    python3 tools/testhosts.py up --lab sandbox --inventory inventories/sandbox/hosts.yml
    python3 tools/testhosts.py down --lab NAME | --all
    python3 tools/testhosts.py status

`up` prints the Molecule instance config ([{instance, address, user, port, identity_file}]).
Python 3.11 standard library only; run as root.
"""

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

STATE_ROOT = "/var/lib/vitals-testhosts"
CACHE_ROOT = "/var/cache/vitals-testhosts"
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_HIERARCHIES = ("systemd", "unified")
# Everything the tool creates on the controller carries one of these prefixes, so a leak check
# can find leftovers: bridges, nft tables, cgroup directories, nspawn machine names.
BRIDGE_PREFIX = "vt-"
NFT_PREFIX = "vitals_"
CGROUP_PREFIX = "vitals-"
SUBNET_BASE = ipaddress.ip_network("10.88.0.0/16")
FIRST_HOST_OCTET = 10
RELEASES = ("trixie", "bookworm")
BASE_PACKAGES = (
    "systemd,systemd-sysv,dbus,libpam-systemd,libnss-systemd,python3,python3-apt,openssh-server,"
    "iproute2,ca-certificates,sudo,procps,locales"
)
# Controller apt settings a guest must not inherit: docker-clean drops downloaded .debs, and the
# PostgreSQL NeverAutoRemove list describes the controller's own clusters.
APT_CONF_SKIP = {"docker-clean", "02autoremove-postgresql"}
# Package lists older than this are refreshed in the base before hosts are copied from it, so
# roles' `cache_valid_time` finds fresh lists.
BASE_LISTS_MAX_AGE = 6 * 3600
# Bumped whenever the base recipe changes in a way the hashed inputs do not show.
RECIPE_VERSION = "1"
BOOT_TIMEOUT = 90
SSH_TIMEOUT = 60
POWEROFF_TIMEOUT = 30
LAB_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
HOST_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class Error(Exception):
    """A failure worth a one-line message, not a traceback."""


def log(msg):
    print(f"testhosts: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True, **kwargs):
    """Run a command; on failure raise Error with its output."""
    res = subprocess.run(cmd, check=False, text=True, capture_output=capture, **kwargs)
    if check and res.returncode != 0:
        out = ((res.stdout or "") + (res.stderr or "")).strip()
        raise Error(f"{' '.join(cmd)} failed ({res.returncode}): {out[-2000:]}")
    return res


@contextlib.contextmanager
def flock(path, shared=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_file(path, content, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ---------------------------------------------------------------- names and addresses


def bridge_name(lab):
    """Bridge names are limited to 15 characters; long lab names get a hash suffix."""
    name = BRIDGE_PREFIX + lab
    if len(name) <= 15:
        return name
    return BRIDGE_PREFIX + lab[:5] + "-" + hashlib.sha256(lab.encode()).hexdigest()[:6]


def machine_name(lab, host):
    """nspawn names the host side of the veth `vb-<machine>`, cut at 15 characters: keep the
    machine name at most 12 characters, unique per lab and host, and a valid hostname (no `_`).
    Lab names hold no `-`, so the first `-` of `<lab>-<host>` keeps it unambiguous."""
    name = f"{lab}-{host}"
    if len(name) <= 12 and "_" not in name:
        return name
    return "vt" + hashlib.sha256(name.encode()).hexdigest()[:10]


def nft_table(lab):
    return NFT_PREFIX + lab


def cgroup_dirs(lab, host=None):
    parts = [CGROUP_PREFIX + lab] + ([host] if host else [])
    return [os.path.join(CGROUP_ROOT, h, *parts) for h in CGROUP_HIERARCHIES]


def lab_dir(lab):
    return os.path.join(STATE_ROOT, lab)


def lab_lock(lab):
    return os.path.join(STATE_ROOT, ".locks", f"{lab}.lock")


GLOBAL_LOCK = os.path.join(STATE_ROOT, ".locks", "global.lock")
IP_FORWARD_SAVED = os.path.join(STATE_ROOT, "ip_forward.saved")


def load_state(lab):
    path = os.path.join(lab_dir(lab), "state.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def save_state(state):
    write_file(os.path.join(lab_dir(state["lab"]), "state.json"), json.dumps(state, indent=2) + "\n", 0o600)


def all_labs():
    if not os.path.isdir(STATE_ROOT):
        return []
    return sorted(d for d in os.listdir(STATE_ROOT) if os.path.exists(os.path.join(STATE_ROOT, d, "state.json")))


def used_subnets(except_lab):
    """Subnets of other labs and any network routed on the controller."""
    nets = set()
    for lab in all_labs():
        st = load_state(lab)
        if lab != except_lab and st:
            nets.add(ipaddress.ip_network(st["subnet"]))
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if "/" in dst:
            nets.add(ipaddress.ip_network(dst, strict=False))
    return nets


def pick_subnet(lab, wanted_addresses):
    """The /24 of the given addresses, or one derived from the lab name that nothing uses."""
    used = used_subnets(lab)
    if wanted_addresses:
        nets = {ipaddress.ip_network(f"{a}/24", strict=False) for a in wanted_addresses}
        if len(nets) != 1:
            raise Error(f"lab {lab}: addresses {sorted(wanted_addresses)} are not in one /24")
        net = nets.pop()
        clash = [u for u in used if u.overlaps(net)]
        if clash:
            raise Error(f"lab {lab}: subnet {net} is already used by another lab or route ({clash[0]})")
        return net
    subnets = list(SUBNET_BASE.subnets(new_prefix=24))[1:]  # 10.88.0.0/24 is kept for the sandbox
    start = int(hashlib.sha256(lab.encode()).hexdigest(), 16) % len(subnets)
    for i in range(len(subnets)):
        net = subnets[(start + i) % len(subnets)]
        if not any(u.overlaps(net) for u in used):
            return net
    raise Error(f"no free /24 left in {SUBNET_BASE}")


def assign_addresses(state, hosts):
    """Fill in missing addresses and check given ones against the lab subnet."""
    net = ipaddress.ip_network(state["subnet"])
    gateway = ipaddress.ip_address(state["gateway"])
    taken = {h["address"] for h in state["hosts"].values()}
    for h in hosts:
        known = state["hosts"].get(h["name"])
        if known and not h.get("address"):
            h["address"] = known["address"]
        if h.get("address"):
            addr = ipaddress.ip_address(h["address"])
            if addr not in net or addr in (net.network_address, net.broadcast_address, gateway):
                raise Error(f"host {h['name']}: address {addr} is outside lab {state['lab']}'s subnet {net}")
            if known and known["address"] != str(addr):
                raise Error(f"host {h['name']} runs with {known['address']}; `down` the lab to change it")
            taken.add(str(addr))
    for h in hosts:
        if not h.get("address"):
            for octet in range(FIRST_HOST_OCTET, 255):
                cand = str(net.network_address + octet)
                if cand not in taken:
                    h["address"] = cand
                    taken.add(cand)
                    break
            else:
                raise Error(f"lab {state['lab']}: no free address left in {net}")
    seen = {}
    for h in hosts:
        if h["address"] in seen and seen[h["address"]] != h["name"]:
            raise Error(f"hosts {seen[h['address']]} and {h['name']} both want {h['address']}")
        seen[h["address"]] = h["name"]


def validate_hosts(hosts):
    names = set()
    for h in hosts:
        if not isinstance(h, dict) or "name" not in h:
            raise Error(f"each host needs a name: {h!r}")
        if not HOST_RE.match(h["name"]):
            raise Error(f"host name {h['name']!r} must match {HOST_RE.pattern}")
        if h["name"] in names:
            raise Error(f"duplicate host name {h['name']!r}")
        names.add(h["name"])
        h.setdefault("release", "trixie")
        if h["release"] not in RELEASES:
            raise Error(f"host {h['name']}: release {h['release']!r} is not one of {', '.join(RELEASES)}")
        h["groups"] = list(h.get("groups") or [])
        if h.get("address"):
            try:
                ipaddress.ip_address(h["address"])
            except ValueError as exc:
                raise Error(f"host {h['name']}: {exc}") from None
    if not hosts:
        raise Error("no hosts given")
    return hosts


def hosts_from_inventory(path):
    """Hosts of an Ansible inventory: `ansible_host` and `testhost_release` per host."""
    exe = shutil.which("ansible-inventory") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", "ansible-inventory"
    )
    data = json.loads(run([exe, "-i", path, "--list"]).stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    groups = {}
    for group, body in data.items():
        if group in ("_meta", "all", "ungrouped") or not isinstance(body, dict):
            continue
        for host in body.get("hosts", []):
            groups.setdefault(host, []).append(group)
    hosts = []
    for name, hv in sorted(hostvars.items()):
        entry = {"name": name, "release": hv.get("testhost_release", "trixie"), "groups": groups.get(name, [])}
        if hv.get("ansible_host"):
            entry["address"] = hv["ansible_host"]
        hosts.append(entry)
    return hosts


# ---------------------------------------------------------------- base root filesystem


def controller_mirrors():
    """(main mirror, security mirror) named in the controller's deb822 sources."""
    path = "/etc/apt/sources.list.d/debian.sources"
    main = security = None
    with open(path, encoding="utf-8") as fh:
        for stanza in fh.read().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if not uris or not suites:
                continue
            if "-security" in suites.group(1):
                security = uris.group(1)
            elif main is None:
                main = uris.group(1)
    if not main:
        raise Error(f"no Debian mirror found in {path}")
    return main, security or "http://deb.debian.org/debian-security"


def guest_sources(release, main, security):
    return (
        f"Types: deb\nURIs: {main}\nSuites: {release} {release}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {release}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def controller_files(directory, skip=(), suffix=""):
    """{name: content} of the regular files in a controller directory."""
    if not os.path.isdir(directory):
        return {}
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name not in skip and name.endswith(suffix) and os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                out[name] = fh.read()
    return out


def base_recipe(release):
    main, security = controller_mirrors()
    return {
        "version": RECIPE_VERSION,
        "release": release,
        "mirror": main,
        "packages": BASE_PACKAGES,
        "sources": guest_sources(release, main, security),
        "apt_conf": controller_files("/etc/apt/apt.conf.d", APT_CONF_SKIP),
        "ca_certs": controller_files("/usr/local/share/ca-certificates", suffix=".crt"),
    }


def in_root(root, cmd, check=True):
    """Run a command chrooted into ROOT with /proc and /dev, in a private mount namespace that
    vanishes with the command (no mount can leak)."""
    script = 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && exec chroot "$@"'
    return run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", root, root, *cmd], check=check)


def apt_update(root):
    in_root(root, ["apt-get", "-qq", "update"])


def build_base(release, recipe, digest, dest):
    """debootstrap the base into DEST (a fresh directory) and configure it."""
    root = os.path.join(dest, "rootfs")
    logfile = os.path.join(dest, "debootstrap.log")
    log(f"building the {release} base (debootstrap, about a minute)")
    with open(logfile, "w", encoding="utf-8") as fh:
        res = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={recipe['packages']}", release, root, recipe["mirror"]],
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if res.returncode != 0:
        debootstrap_log = os.path.join(root, "debootstrap", "debootstrap.log")
        raise Error(f"debootstrap {release} failed; see {logfile} and {debootstrap_log}")
    write_file(os.path.join(root, "etc/apt/sources.list.d/debian.sources"), recipe["sources"])
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(root, "etc/apt/sources.list"))
    for name, content in recipe["apt_conf"].items():
        write_file(os.path.join(root, "etc/apt/apt.conf.d", name), content)
    for name, content in recipe["ca_certs"].items():
        write_file(os.path.join(root, "usr/local/share/ca-certificates", name), content)
    shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    in_root(root, ["update-ca-certificates"])
    in_root(root, ["passwd", "-d", "root"])
    in_root(root, ["systemctl", "enable", "systemd-networkd"])
    in_root(root, ["systemctl", "mask", "systemd-timesyncd.service", "apt-daily.timer", "apt-daily-upgrade.timer"])
    for key in os.listdir(os.path.join(root, "etc/ssh")):
        if key.startswith("ssh_host_"):
            os.unlink(os.path.join(root, "etc/ssh", key))
    write_file(os.path.join(root, "etc/machine-id"), "")
    apt_update(root)
    write_file(os.path.join(dest, "recipe.json"), json.dumps(recipe, indent=2) + "\n")
    write_file(os.path.join(dest, "recipe.sha256"), digest + "\n")


def base_lock(release):
    """Held exclusively to build or refresh a base, shared while hosts are copied from it."""
    return os.path.join(CACHE_ROOT, f"base-{release}.lock")


def ensure_base(release):
    """Path of the base rootfs for RELEASE, built once (under a lock) per recipe."""
    recipe = base_recipe(release)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    base = os.path.join(CACHE_ROOT, f"base-{release}")
    stamp = os.path.join(base, "recipe.sha256")
    with flock(base_lock(release)):
        current = None
        if os.path.exists(stamp):
            with open(stamp, encoding="utf-8") as fh:
                current = fh.read().strip()
        if current != digest:
            started = time.monotonic()
            tmp = tempfile.mkdtemp(prefix=f"base-{release}.", dir=CACHE_ROOT)
            try:
                build_base(release, recipe, digest, tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if os.path.exists(base):
                shutil.rmtree(base)
            os.rename(tmp, base)
            log(f"{release} base built in {time.monotonic() - started:.0f} s")
        root = os.path.join(base, "rootfs")
        lists = os.path.join(root, "var/lib/apt/lists")
        if time.time() - os.stat(lists).st_mtime > BASE_LISTS_MAX_AGE:
            log(f"refreshing the {release} base's package lists")
            apt_update(root)
            os.utime(lists)
    return root


# ---------------------------------------------------------------- network


def read_ip_forward():
    with open("/proc/sys/net/ipv4/ip_forward", encoding="utf-8") as fh:
        return fh.read().strip()


def write_ip_forward(value):
    with open("/proc/sys/net/ipv4/ip_forward", "w", encoding="utf-8") as fh:
        fh.write(value)


def link_exists(name):
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def default_interface():
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "default"]).stdout or "[]")
    if not routes:
        raise Error("the controller has no default route: test hosts could not reach the Debian mirror")
    return routes[0]["dev"]


def network_up(state):
    """Bridge, masquerade and forwarding for a lab (idempotent). Call under the global lock."""
    if not os.path.exists(IP_FORWARD_SAVED):
        write_file(IP_FORWARD_SAVED, read_ip_forward() + "\n")
    write_ip_forward("1")
    bridge = state["bridge"]
    if not link_exists(bridge):
        run(["ip", "link", "add", "name", bridge, "type", "bridge"])
        prefix = ipaddress.ip_network(state["subnet"]).prefixlen
        run(["ip", "addr", "add", f"{state['gateway']}/{prefix}", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])
    table = state["nft_table"]
    if run(["nft", "list", "table", "ip", table], check=False).returncode != 0:
        subnet = state["subnet"]
        rules = (
            f"table ip {table} {{\n chain postrouting {{\n  type nat hook postrouting priority srcnat;\n"
            f'  ip saddr {subnet} ip daddr != {subnet} oifname "{default_interface()}" masquerade\n }}\n}}\n'
        )
        run(["nft", "-f", "-"], input=rules)


def network_down(state):
    """Remove the lab's bridge and table; restore ip_forward after the last lab. Global lock held."""
    if link_exists(state["bridge"]):
        run(["ip", "link", "del", state["bridge"]])
    if run(["nft", "list", "table", "ip", state["nft_table"]], check=False).returncode == 0:
        run(["nft", "delete", "table", "ip", state["nft_table"]])
    others = [lab for lab in all_labs() if lab != state["lab"]]
    if not others and os.path.exists(IP_FORWARD_SAVED):
        with open(IP_FORWARD_SAVED, encoding="utf-8") as fh:
            write_ip_forward(fh.read().strip())
        os.unlink(IP_FORWARD_SAVED)


# ---------------------------------------------------------------- hosts


def nspawn_alive(pid, machine):
    """True when PID still is the nspawn process of MACHINE (guards against PID reuse)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(argv) and argv[0].endswith(b"systemd-nspawn") and machine.encode() in argv


def leader_pid(pid):
    """The container's PID 1: the child of the nspawn process."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as fh:
            kids = fh.read().split()
    except FileNotFoundError:
        return None
    return int(kids[0]) if kids else None


def in_guest(leader, cmd, check=False):
    return run(["nsenter", "-t", str(leader), "-a", *cmd], check=check)


def etc_hosts(state):
    """/etc/hosts naming every host of the lab."""
    names = "".join(f"{h['address']}\t{n}\n" for n, h in sorted(state["hosts"].items()))
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{names}"


def prepare_rootfs(state, host, base):
    lab = state["lab"]
    hdir = os.path.join(lab_dir(lab), "hosts", host["name"])
    root = os.path.join(hdir, "rootfs")
    if os.path.exists(hdir):
        remove_tree(hdir)
    os.makedirs(hdir)
    with flock(base_lock(host["release"]), shared=True):
        run(["cp", "-a", "--reflink=auto", base, root])
    run(["ssh-keygen", "-q", "-A", "-f", root])
    write_file(os.path.join(root, "etc/machine-id"), "")
    write_file(os.path.join(root, "etc/hostname"), host["name"] + "\n")
    write_file(os.path.join(root, "etc/hosts"), etc_hosts(state))
    prefix = ipaddress.ip_network(state["subnet"]).prefixlen
    write_file(
        os.path.join(root, "etc/systemd/network/10-host0.network"),
        f"[Match]\nName=host0\n\n[Network]\nAddress={host['address']}/{prefix}\nGateway={state['gateway']}\n",
    )
    with open(os.path.join(lab_dir(lab), "id_ed25519.pub"), encoding="utf-8") as fh:
        write_file(os.path.join(root, "root/.ssh/authorized_keys"), fh.read(), 0o600)
    os.chmod(os.path.join(root, "root/.ssh"), 0o700)
    return root


def start_host(state, name):
    """Boot a prepared host with nspawn in its own cgroup; record the nspawn PID."""
    lab = state["lab"]
    host = state["hosts"][name]
    machine = machine_name(lab, name)
    dirs = cgroup_dirs(lab, name)
    for d in dirs:
        os.makedirs(d, exist_ok=True)

    console = os.path.join(lab_dir(lab), "console", f"{name}.log")
    os.makedirs(os.path.dirname(console), exist_ok=True)
    # The launching shell moves itself into <lab>/<host> before exec'ing nspawn: the guest then
    # gets its own cgroup, not the `/payload` every host started from `/` would share.
    enter = " && ".join(f'echo $$ > "{d}/cgroup.procs"' for d in dirs)
    cmd = [
        "sh",
        "-c",
        f'{enter} && exec "$@"',
        "sh",
        "systemd-nspawn",
        "-q",
        "-D",
        host["rootfs"],
        "-M",
        machine,
        f"--hostname={name}",
        "-b",
        "--register=no",
        "--keep-unit",
        f"--network-bridge={state['bridge']}",
        "--resolv-conf=off",
        "--timezone=off",
        "--console=read-only",
    ]
    env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
    with open(console, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(  # a daemon: `down` stops it by its recorded PID
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    host.update(pid=proc.pid, machine=machine, console=console, started_at=time.time())
    return proc


def wait_running(state, name, proc):
    """Wait for systemd in the guest to report `running`, then for sshd to accept the run's key."""
    host = state["hosts"][name]
    deadline = time.monotonic() + BOOT_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Error(f"host {name}: systemd-nspawn exited with {proc.returncode}; see {host['console']}")
        leader = leader_pid(proc.pid)
        if leader:
            status = in_guest(leader, ["systemctl", "is-system-running"]).stdout.strip()
            if status == "running":
                break
            if status == "degraded":
                failed = in_guest(leader, ["systemctl", "--failed", "--no-legend", "--plain"]).stdout.strip()
                raise Error(f"host {name} booted degraded; failed units:\n{failed}")
        time.sleep(0.2)
    else:
        raise Error(f"host {name}: not running after {BOOT_TIMEOUT} s (last state {status!r}); see {host['console']}")
    host["boot_s"] = round(time.time() - host["started_at"], 2)
    (instance,) = instance_config(state, [name])
    ssh = [*ssh_argv(instance, "-o", "BatchMode=yes", "-o", "ConnectTimeout=3"), "true"]
    deadline = time.monotonic() + SSH_TIMEOUT
    while run(ssh, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise Error(f"host {name}: sshd on {host['address']} does not accept the lab key after {SSH_TIMEOUT} s")
        time.sleep(0.3)


def stop_host(lab, name, host):
    """Power off, wait, then TERM/KILL the recorded nspawn PID; remove cgroups and rootfs."""
    pid, machine = host.get("pid"), host.get("machine", "")
    if pid and nspawn_alive(pid, machine):
        leader = leader_pid(pid)
        if leader:
            in_guest(leader, ["systemctl", "poweroff"])
        for sig, wait in ((None, POWEROFF_TIMEOUT), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if sig:
                log(f"host {name}: still up, sending {sig.name} to {pid}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while nspawn_alive(pid, machine) and time.monotonic() < deadline:
                reap(pid)
                time.sleep(0.1)
            if not nspawn_alive(pid, machine):
                break
        else:
            raise Error(f"host {name}: nspawn PID {pid} survived SIGKILL")
    for d in cgroup_dirs(lab, name):
        remove_cgroup(d)
    hdir = os.path.join(lab_dir(lab), "hosts", name)
    if os.path.exists(hdir):
        remove_tree(hdir)


def reap(pid):
    """Collect the exit status when this process started nspawn itself (avoids a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def remove_cgroup(path):
    """rmdir a cgroup and the empty children nspawn and the guest's systemd leave, depth first."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _files in os.walk(path, topdown=False):
        for d in dirnames:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(os.path.join(dirpath, d))
    os.rmdir(path)


def mounts_under(path):
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        points = [line.split()[4] for line in fh]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]


def remove_tree(path):
    """rm -rf that refuses to cross a mount point (a bind mount would take the source with it)."""
    busy = mounts_under(path)
    if busy:
        raise Error(f"refusing to remove {path}: mounted inside: {busy}")
    shutil.rmtree(path)


# ---------------------------------------------------------------- commands


def instance_config(state, names):
    key = os.path.join(lab_dir(state["lab"]), "id_ed25519")
    return [
        {"instance": n, "address": state["hosts"][n]["address"], "user": "root", "port": 22, "identity_file": key}
        for n in names
    ]


# A host gets a new host key on every boot, so there is nothing to record or check.
HOST_KEY_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")


def ssh_argv(instance, *options):
    """ssh to a host of instance_config() with its lab's key."""
    return [
        "ssh",
        "-i",
        instance["identity_file"],
        *HOST_KEY_OPTIONS,
        "-o",
        "LogLevel=ERROR",
        *options,
        "-p",
        str(instance.get("port", 22)),
        "%s@%s" % (instance.get("user", "root"), instance["address"]),
    ]


def boot_hosts(state, todo):
    """Copy the base for each new host, boot them all, wait for them in parallel."""
    bases = {r: ensure_base(r) for r in sorted({h["release"] for h in todo})}
    procs = {}
    errors = []

    def wait(name):
        try:
            wait_running(state, name, procs[name])
        except Error as exc:
            errors.append(str(exc))

    try:
        for h in todo:
            started = time.monotonic()
            state["hosts"][h["name"]]["rootfs"] = prepare_rootfs(state, h, bases[h["release"]])
            state["hosts"][h["name"]]["create_s"] = round(time.monotonic() - started, 2)
            save_state(state)
        for h in todo:
            procs[h["name"]] = start_host(state, h["name"])
            save_state(state)
        threads = [threading.Thread(target=wait, args=(n,)) for n in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise Error("\n".join(errors))
    finally:
        save_state(state)
    for n in procs:
        hs = state["hosts"][n]
        log(f"{n} ({hs['release']}) up at {hs['address']}: rootfs {hs['create_s']} s, boot {hs['boot_s']} s")
    # Hosts that were already running do not know the new ones yet.
    if len(state["hosts"]) > len(todo):
        for hs in state["hosts"].values():
            write_file(os.path.join(hs["rootfs"], "etc/hosts"), etc_hosts(state))


def cmd_up(lab, hosts):
    validate_hosts(hosts)
    with flock(lab_lock(lab)):
        with flock(GLOBAL_LOCK):
            state = load_state(lab)
            if state is None:
                subnet = pick_subnet(lab, [h["address"] for h in hosts if h.get("address")])
                state = {
                    "lab": lab,
                    "bridge": bridge_name(lab),
                    "nft_table": nft_table(lab),
                    "subnet": str(subnet),
                    "gateway": str(subnet.network_address + 1),
                    "hosts": {},
                }
                if link_exists(state["bridge"]):
                    raise Error(f"bridge {state['bridge']} already exists but lab {lab} has no state; remove it first")
                os.makedirs(lab_dir(lab), mode=0o700, exist_ok=True)
                save_state(state)
            assign_addresses(state, hosts)
            network_up(state)
        key = os.path.join(lab_dir(lab), "id_ed25519")
        if not os.path.exists(key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vitals-testhosts-{lab}", "-f", key])
        todo = []
        for h in hosts:
            known = state["hosts"].get(h["name"])
            if known and known.get("pid") and nspawn_alive(known["pid"], known.get("machine", "")):
                if known["release"] != h["release"]:
                    raise Error(f"host {h['name']} runs {known['release']}; `down` the lab to change its release")
                continue
            if known:  # recorded but not running: clear what is left, then recreate
                stop_host(lab, h["name"], known)
            todo.append(h)
            state["hosts"][h["name"]] = {"address": h["address"], "release": h["release"], "groups": h["groups"]}
        save_state(state)
        if todo:
            boot_hosts(state, todo)
        return instance_config(state, [h["name"] for h in hosts])


def cmd_down(lab):
    with flock(lab_lock(lab)):
        state = load_state(lab)
        if state is None:
            log(f"lab {lab}: nothing to do")
            return
        for name, host in sorted(state["hosts"].items()):
            stop_host(lab, name, host)
        for d in cgroup_dirs(lab):
            remove_cgroup(d)
        with flock(GLOBAL_LOCK):
            network_down(state)
            remove_tree(lab_dir(lab))
        log(f"lab {lab}: down")


def cmd_status():
    out = []
    for lab in all_labs():
        st = load_state(lab)
        for name, h in sorted(st["hosts"].items()):
            alive = bool(h.get("pid")) and nspawn_alive(h["pid"], h.get("machine", ""))
            out.append(
                {
                    "lab": lab,
                    "host": name,
                    "address": h["address"],
                    "release": h["release"],
                    "running": alive,
                    "pid": h.get("pid"),
                }
            )
    return out


def lab_name(value):
    if not LAB_RE.match(value):
        raise argparse.ArgumentTypeError(f"lab name must match {LAB_RE.pattern}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create and boot a lab's hosts (idempotent)")
    up.add_argument("--lab", required=True, type=lab_name)
    src = up.add_mutually_exclusive_group(required=True)
    src.add_argument("--hosts-json", metavar="FILE", help="JSON list of {name, address, release, groups}; - for stdin")
    src.add_argument("--inventory", metavar="FILE", help="Ansible inventory (ansible_host, testhost_release)")
    up.add_argument("--out", metavar="FILE", help="write the instance config here instead of stdout")
    down = sub.add_parser("down", help="power off and remove a lab (or all)")
    which = down.add_mutually_exclusive_group(required=True)
    which.add_argument("--lab", type=lab_name)
    which.add_argument("--all", action="store_true")
    sub.add_parser("status", help="list every lab's hosts")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        sys.exit("testhosts: must run as root (debootstrap, nspawn, bridges, nft)")
    try:
        if args.command == "up":
            if args.inventory:
                hosts = hosts_from_inventory(args.inventory)
            else:
                with open(args.hosts_json if args.hosts_json != "-" else "/dev/stdin", encoding="utf-8") as fh:
                    hosts = json.load(fh)
                if not isinstance(hosts, list):
                    raise Error("--hosts-json wants a JSON list of hosts")
            text = json.dumps(cmd_up(args.lab, hosts), indent=2) + "\n"
            if args.out:
                write_file(args.out, text)
            else:
                sys.stdout.write(text)
        elif args.command == "down":
            for lab in all_labs() if args.all else [args.lab]:
                cmd_down(lab)
        else:
            sys.stdout.write(json.dumps(cmd_status(), indent=2) + "\n")
    except Error as exc:
        sys.exit(f"testhosts: {exc}")
    except (OSError, ValueError) as exc:
        sys.exit(f"testhosts: {exc}")


if __name__ == "__main__":
    main()
