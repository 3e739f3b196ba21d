"""Test hosts leave nothing behind: no process, bridge, veth, nft table, mount or cgroup that no
running lab accounts for (compared with the names tools/testhosts.py gives them), and a lab that
goes up and down leaves none of its own. `make test` runs this after Molecule as the leak check."""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "testhosts.py"
_spec = importlib.util.spec_from_file_location("testhosts", TOOL)
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="test hosts need root")  # CI runs as root


def sh(*cmd):
    return subprocess.run(cmd, check=True, text=True, capture_output=True).stdout


def recorded():
    """{lab: state} of every lab the tool has state for."""
    return {lab: th.load_state(lab) for lab in th.all_labs()}


def nspawn_processes():
    """{pid: argv} of every systemd-nspawn process on the controller."""
    out = {}
    for line in sh("ps", "-e", "-o", "pid=,args=").splitlines():
        pid, args = line.strip().split(" ", 1)
        argv = args.split()
        if argv and argv[0].endswith("systemd-nspawn"):
            out[int(pid)] = argv
    return out


def links():
    return {link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show"))}


def nft_tables():
    data = json.loads(sh("nft", "-j", "list", "tables"))
    return {item["table"]["name"] for item in data["nftables"] if "table" in item}


def mount_points():
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [line.split()[4] for line in fh]


def cgroup_labs():
    out = set()
    for hierarchy in th.CGROUP_HIERARCHIES:
        root = Path(th.CGROUP_ROOT, hierarchy)
        out |= {p.name for p in root.iterdir() if p.is_dir() and p.name.startswith(th.CGROUP_PREFIX)}
    return out


def leftovers(names):
    """What of a lab's names (bridge, table, cgroup, machines, state dir) still exists."""
    found = []
    if names["bridge"] in links():
        found.append(f"bridge {names['bridge']}")
    found += [f"veth {v}" for v in names["veths"] & links()]
    if names["table"] in nft_tables():
        found.append(f"nft table {names['table']}")
    if names["cgroup"] in cgroup_labs():
        found.append(f"cgroup {names['cgroup']}")
    for pid, argv in nspawn_processes().items():
        if set(names["machines"]) & set(argv):
            found.append(f"nspawn process {pid}")
    if Path(names["dir"]).exists():
        found.append(f"state directory {names['dir']}")
    found += [f"mount {m}" for m in mount_points() if m.startswith(names["dir"] + "/")]
    return found


def test_every_test_host_object_belongs_to_a_running_lab():
    labs = recorded()
    bridges = {st["bridge"] for st in labs.values()}
    tables = {st["nft_table"] for st in labs.values()}
    machines = {h["machine"] for st in labs.values() for h in st["hosts"].values() if "machine" in h}
    pids = {h.get("pid") for st in labs.values() for h in st["hosts"].values()}

    stray = [f"bridge {n}" for n in links() if n.startswith(th.BRIDGE_PREFIX) and n not in bridges]
    stray += [
        f"veth {n}" for n in links() if n.startswith("vb-") and n.split("@")[0] not in {f"vb-{m}" for m in machines}
    ]
    stray += [f"nft table {t}" for t in nft_tables() if t.startswith(th.NFT_PREFIX) and t not in tables]
    stray += [f"cgroup {c}" for c in cgroup_labs() if c[len(th.CGROUP_PREFIX) :] not in labs]
    stray += [
        f"nspawn process {pid} ({' '.join(argv)})"
        for pid, argv in nspawn_processes().items()
        if any(a.startswith((th.STATE_ROOT, th.CACHE_ROOT)) for a in argv) and pid not in pids
    ]
    stray += [f"mount {m}" for m in mount_points() if m.startswith((th.STATE_ROOT + "/", th.CACHE_ROOT + "/"))]
    for lab, st in labs.items():
        stray += [
            f"lab {lab}: host {name} is recorded but not running"
            for name, h in st["hosts"].items()
            if not (h.get("pid") and th.nspawn_alive(h["pid"], h.get("machine", "")))
        ]
    assert not stray, "test-host leftovers (remove with `make hosts-down-all`):\n" + "\n".join(stray)


def test_no_molecule_lab_is_left():
    # Molecule labs are named m_<scenario>_<releases>; every scenario destroys its own at the end.
    left = sorted(lab for lab in th.all_labs() if lab.startswith("m_"))
    assert not left, f"Molecule labs still up: {left}"


def test_a_lab_that_goes_down_leaves_nothing(tmp_path):
    lab = "t_leakcheck"
    labs_before = th.all_labs()
    forward_before = th.read_ip_forward()
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps([{"name": "one"}, {"name": "two", "release": "trixie"}]))
    try:
        config = json.loads(sh("python3", str(TOOL), "up", "--lab", lab, "--hosts-json", str(hosts)))
        assert [c["instance"] for c in config] == ["one", "two"]
        state = th.load_state(lab)
        names = {
            "bridge": state["bridge"],
            "table": state["nft_table"],
            "cgroup": th.CGROUP_PREFIX + lab,
            "machines": [h["machine"] for h in state["hosts"].values()],
            "veths": {f"vb-{h['machine']}" for h in state["hosts"].values()},
            "dir": th.lab_dir(lab),
        }
        assert len(leftovers(names)) >= 6, "the lab did not come up as expected"
        assert th.read_ip_forward() == "1"
        # Idempotent: a second `up` boots nothing and returns the same config.
        again = subprocess.run(
            ["python3", str(TOOL), "up", "--lab", lab, "--hosts-json", str(hosts)],
            check=True,
            text=True,
            capture_output=True,
        )
        assert json.loads(again.stdout) == config
        assert " up at " not in again.stderr
    finally:
        sh("python3", str(TOOL), "down", "--lab", lab)
    assert leftovers(names) == []
    if not labs_before:
        assert th.read_ip_forward() == forward_before
