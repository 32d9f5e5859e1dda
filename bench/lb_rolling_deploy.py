"""The rolling-deployment phase of bench/lb.sh: a service behind a Berth listener is rolled to a
new deployment while a local client keeps a bounded, steady load on the listener; every answer
that is not 2xx and every connection error counts against the figure, which should be 0 (that is
what deregistration and draining are for).

    python3 bench/lb_rolling_deploy.py --berth target/release/berth [--tasks 2] [--clients 4]
        [--interval 0.01] [--timeout 300]

It runs its own `berth server` (free loopback port, a temporary data directory) and one
`berth agent` on the local Docker Engine, builds berth-demo:latest (`berth demo image`), and makes
a load balancer with an HTTP listener forwarding to an `instance` target group (health checks
every 5 s, healthy after 2, deregistration delay 5 s) and a service of --tasks berth-demo tasks
behind it (dynamic host ports, maximumPercent 200 / minimumHealthyPercent 100). Once every target
is healthy, --clients threads each send GET / through the listener over a kept-alive connection
every --interval seconds (a new connection after any error); then UpdateService
forceNewDeployment, and the load goes on until the new deployment is the only one, COMPLETED,
its tasks are the only ones running and every target left is healthy.

Prints a summary to stderr and, last on stdout:
    rolling_deploy_5xx: F of N requests
Everything it started is stopped and its containers removed however it ends (benchlib.LocalBerth).
"""

import argparse
import http.client
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from benchlib import LocalBerth, log, wait_for


class Load:
    """--clients threads, each a GET every `interval` seconds over a kept-alive connection."""

    def __init__(self, port, host, clients, interval):
        self.port, self.host, self.interval = port, host, interval
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = {}  # status code or exception name -> count
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def record(self, outcome):
        with self.lock:
            self.sent += 1
            if outcome is not None:
                self.failed[outcome] = self.failed.get(outcome, 0) + 1

    def client(self):
        connection = None
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/", headers={"Host": self.host})
                response = connection.getresponse()
                response.read()
                self.record(None if 200 <= response.status < 300 else response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as err:
                self.record(type(err).__name__)
                if connection is not None:
                    connection.close()
                connection = None
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        if connection is not None:
            connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True, help="the berth binary")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    berth = str(Path(args.berth).resolve())
    subprocess.run([berth, "demo", "image"], check=True, capture_output=True)

    cluster = f"bench-lb-roll-{uuid.uuid4().hex[:8]}"
    # SIGTERM from lb.sh's trap becomes an exception, so that LocalBerth still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with LocalBerth(berth, "berth-lb-roll-", cluster) as local:
        ecs = local.ecs
        lb, group, port = local.service_behind_listener(
            "roll", "roll", args.tasks,
            group_attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
        wait_for(lambda: local.target_states(group) == ["healthy"] * args.tasks, "every target to be healthy",
                 args.timeout)
        log(f"lb_rolling_deploy: {args.tasks} tasks healthy behind :{port}; load: {args.clients} clients, "
            f"a request every {args.interval} s each")

        with Load(port, lb["DNSName"], args.clients, args.interval) as load:
            started = time.monotonic()
            deployment = ecs.update_service(cluster=cluster, service="roll",
                                            forceNewDeployment=True)["service"]["deployments"][0]["id"]

            def rolled():
                deployments = ecs.describe_services(cluster=cluster, services=["roll"])["services"][0]["deployments"]
                if [(d["id"], d["rolloutState"]) for d in deployments] != [(deployment, "COMPLETED")]:
                    return False
                running = ecs.list_tasks(cluster=cluster, serviceName="roll", desiredStatus="RUNNING")["taskArns"]
                tasks = ecs.describe_tasks(cluster=cluster, tasks=running)["tasks"] if running else []
                return len(tasks) == args.tasks and all(
                    t["startedBy"] == deployment and t["lastStatus"] == "RUNNING" for t in tasks) \
                    and local.target_states(group) == ["healthy"] * args.tasks

            wait_for(rolled, "the new deployment to replace every task", args.timeout)
            log(f"lb_rolling_deploy: rolled in {time.monotonic() - started:.1f} s")
        failures = sum(load.failed.values())
        if load.failed:
            log(f"lb_rolling_deploy: failures by kind: {load.failed}")
        print(f"rolling_deploy_5xx: {failures} of {load.sent} requests", flush=True)


if __name__ == "__main__":
    main()
