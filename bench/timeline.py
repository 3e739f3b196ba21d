"""Draw a rolling deploy as a timeline PNG.

Every request of tools/loadgen.py is a point (time since the first request, latency), coloured
by the gunicorn instance that answered it (the socket in nginx's X-Vitals-Upstream: gunicorn.sock
is the live instance, next.sock the candidate); requests without a 2xx answer are red crosses.
The deploy's events (playbooks/deploy.yml and rollback.yml with `deploy_events_file` set: switch,
healthy, failed, rollback, restored per host) are vertical lines.

    .venv/bin/python bench/timeline.py --requests requests.jsonl --events events.jsonl \\
        --title "deploy v2" --out bench/results/rolling-v2.png

matplotlib comes from bench/requirements.txt (`make bench` installs it).
"""

import argparse
import pathlib
import sys

import benchlib
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

# One line style per step, so a reader tells the moments apart without reading labels.
EVENT_STYLES = {
    "drain": ("tab:gray", ":"),
    "drained": ("tab:gray", "--"),
    "switch": ("tab:blue", "-"),
    "verify": ("tab:olive", ":"),
    "healthy": ("tab:green", "--"),
    "failed": ("tab:red", "-"),
    "rollback": ("tab:orange", "-"),
    "restored": ("tab:orange", "--"),
    "enable": ("tab:green", "-"),
}


def answered(request):
    """A 2xx answer (the loadgen's definition of a request that did not fail)."""
    return request["error"] is None and 200 <= request["status"] < 300


def answered_by(request):
    """The gunicorn instance's socket that answered (nginx's X-Vitals-Upstream), else the release
    (X-Release), else "-"."""
    instance = request.get("instance")
    return instance.rsplit("/", 1)[-1] if instance else request.get("release") or "-"


def draw(requests, events, title, out):
    """Write the PNG; returns the number of points drawn."""
    if not requests:
        raise ValueError("no requests to draw")
    t0 = min(r["t"] for r in requests)
    fig, ax = plt.subplots(figsize=(14, 6), dpi=100)
    ok = [r for r in requests if answered(r)]
    instances = sorted({answered_by(r) for r in ok})
    for index, instance in enumerate(instances):
        points = [r for r in ok if answered_by(r) == instance]
        ax.scatter(
            [r["t"] - t0 for r in points],
            [r["latency_ms"] for r in points],
            s=6,
            color=plt.cm.tab10(index % 10),
            label=f"{instance} ({len(points)})",
        )
    failed = [r for r in requests if not answered(r)]
    if failed:
        ax.scatter(
            [r["t"] - t0 for r in failed],
            [r["latency_ms"] for r in failed],
            s=40,
            marker="x",
            color="red",
            label=f"failed ({len(failed)})",
        )
    top = max(r["latency_ms"] for r in requests)
    for event in events:
        color, style = EVENT_STYLES.get(event["event"], ("black", "-."))
        x = event["t"] - t0
        ax.axvline(x, color=color, linestyle=style, linewidth=1)
        ax.text(x, top, f" {event['host']}: {event['event']}", rotation=90, va="top", fontsize=7, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"{title}: {len(requests)} requests, {len(failed)} without a 2xx answer")
    ax.legend(loc="lower right", fontsize=8, title="answered by")
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return len(requests)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--requests", required=True, help="loadgen JSON lines")
    parser.add_argument("--events", help="deploy events JSON lines")
    parser.add_argument("--title", default="rolling deploy")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    events = benchlib.load_jsonl(pathlib.Path(args.events)) if args.events else []
    count = draw(benchlib.load_jsonl(pathlib.Path(args.requests)), events, args.title, args.out)
    print(f"{args.out}: {count} requests, {len(events)} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
