"""bench/autoscale.sh's driver: how fast a service behind a Berth listener scales out on
request count.

    python3 bench/autoscale.py --berth target/release/berth [--rate 60] [--target 10]
        [--duration 60]

It runs its own `berth server --metric-period 1` (free loopback port, temporary data
directory) and one `berth agent` on the local Docker Engine, builds berth-demo:latest, and makes
a load balancer with an HTTP listener forwarding to an `instance` target group (health checks
every 5 s, healthy after 2) and a service of one berth-demo task behind it (dynamic host port).
The service is a scalable target (1 to 2 tasks) with a target tracking policy on
ALBRequestCountPerTarget at --target requests per target per second (the metric's period is
the server's, 1 s), scale-in disabled. Once the task is healthy, a local client sends GET /
through the listener at a steady --rate requests per second (a step load from zero, bounded by
--duration seconds), noting which task answered each request (berth-demo's `/` names its
container). Measured from the load's onset: the scale-out decision (the scaling activity's
start) and the first answer from the new task.

Prints a summary to stderr and, last on stdout:
    scale_out_s: X (decision: Y s)
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


class StepLoad:
    """One client thread sending GET / at `rate` per second over a kept-alive connection, for at
    most `duration` seconds; records when each answering host first answered."""

    def __init__(self, port, host, rate, duration):
        self.port, self.host, self.interval, self.duration = port, host, 1.0 / rate, duration
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.first_answer = {}  # host -> monotonic time of its first answer
        self.sent = 0
        self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.onset = None

    def run(self):
        connection = None
        deadline = self.onset + self.duration
        next_at = self.onset
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/", headers={"Host": self.host})
                response = connection.getresponse()
                body = response.read().decode(errors="replace").strip()
                with self.lock:
                    self.sent += 1
                    if response.status == 200 and body.startswith("berth-demo on "):
                        self.first_answer.setdefault(body.removeprefix("berth-demo on "), time.monotonic())
                    else:
                        self.errors += 1
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.sent += 1
                    self.errors += 1
                if connection is not None:
                    connection.close()
                connection = None
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
        if connection is not None:
            connection.close()

    def hosts(self):
        with self.lock:
            return dict(self.first_answer)

    def __enter__(self):
        self.onset = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopping.set()
        self.thread.join(timeout=15)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True, help="the berth binary")
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second of the step load")
    parser.add_argument("--target", type=float, default=10.0, help="requests per target per second")
    parser.add_argument("--duration", type=float, default=60.0, help="the most seconds the load lasts")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    if not (0 < args.rate <= 500 and 0 < args.duration <= 300):
        raise SystemExit("autoscale: --rate must be in (0, 500] and --duration in (0, 300]")
    berth = str(Path(args.berth).resolve())
    subprocess.run([berth, "demo", "image"], check=True, capture_output=True)

    cluster = f"bench-scale-{uuid.uuid4().hex[:8]}"
    # SIGTERM from autoscale.sh's trap becomes an exception, so that LocalBerth still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with LocalBerth(berth, "berth-autoscale-", cluster, ["--metric-period", "1"]) as local:
        scaling = local.client("application-autoscaling")
        lb, group, port = local.service_behind_listener("scale", "web", 1)
        wait_for(lambda: local.target_states(group) == ["healthy"], "the first target to be healthy", args.timeout)
        resource = f"service/{cluster}/web"
        scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource,
                                         ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=2)
        # app/NAME/ID/targetgroup/NAME/ID, from the two ARNs.
        label = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1] + "/" + group.split(":", 5)[5]
        scaling.put_scaling_policy(
            PolicyName="requests", ServiceNamespace="ecs", ResourceId=resource,
            ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": args.target, "DisableScaleIn": True,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                  "ResourceLabel": label}})
        # Let the idle service's periods pass, so the load starts from nothing.
        time.sleep(3)
        log(f"autoscale: one task healthy behind :{port}; step load of {args.rate:g} requests/s, "
            f"target {args.target:g} per target per second")

        with StepLoad(port, lb["DNSName"], args.rate, args.duration) as load:
            first_host = wait_for(lambda: list(load.hosts()), "the first answer", 10, step=0.05)[0]

            def decided():
                activities = scaling.describe_scaling_activities(
                    ServiceNamespace="ecs", ResourceId=resource)["ScalingActivities"]
                return [a for a in activities if a["Description"] == "Setting desired count to 2."]

            activity = wait_for(decided, "the scale-out decision", args.duration, step=0.1)[0]
            new_host = wait_for(lambda: [h for h in load.hosts() if h != first_host],
                                "an answer from the new task", args.duration, step=0.05)[0]
            serving_at = load.hosts()[new_host]
        # The activity's start is wall-clock; the load's onset is taken on the same clock here.
        onset_wall = time.time() - (time.monotonic() - load.onset)
        decision_s = activity["StartTime"].timestamp() - onset_wall
        scale_out_s = serving_at - load.onset
        log(f"autoscale: {load.sent} requests, {load.errors} errors; cause: {activity['Cause']}")
        print(f"scale_out_s: {scale_out_s:.1f} (decision: {decision_s:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
