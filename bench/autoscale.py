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
Everything it started is stopped and its containers removed in a finally block.
"""

import argparse
import http.client
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import botocore.config


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, what, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"autoscale: timed out after {timeout} s waiting for {what}")


def stop(process):
    """SIGTERM, then SIGKILL after 10 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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

    workdir = Path(tempfile.mkdtemp(prefix="berth-autoscale-"))
    cluster = f"bench-scale-{uuid.uuid4().hex[:8]}"
    server = agent = None
    # SIGTERM from autoscale.sh's trap becomes an exception, so the finally block still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server = subprocess.Popen(
            [berth, "server", "--listen", "127.0.0.1:0", "--data-dir", str(workdir / "server"),
             "--metric-period", "1"],
            stdout=subprocess.PIPE, stderr=open(workdir / "server.log", "w"), text=True)
        ready, _, _ = select.select([server.stdout], [], [], 30)
        line = server.stdout.readline() if ready else ""
        if not line.startswith("berth ready: "):
            raise SystemExit(f"autoscale: berth server did not get ready ({line!r})")
        url = line.split(": ", 1)[1].strip()
        credentials = workdir / "server" / "credentials"
        keys = dict(l.split(" = ", 1) for l in credentials.read_text().splitlines() if " = " in l)

        def client(service):
            return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                                aws_access_key_id=keys["aws_access_key_id"].strip(),
                                aws_secret_access_key=keys["aws_secret_access_key"].strip(),
                                config=botocore.config.Config(retries={"max_attempts": 3}))

        ecs, elbv2, ec2 = client("ecs"), client("elbv2"), client("ec2")
        scaling = client("application-autoscaling")
        ecs.create_cluster(clusterName=cluster)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
        agent = subprocess.Popen(
            [berth, "agent", "--server", url, "--cluster", cluster, "--data-dir", str(workdir / "agent"),
             "--task-cleanup-wait", "0"],
            stdout=subprocess.DEVNULL, stderr=open(workdir / "agent.log", "w"), env=env)
        wait_for(lambda: ecs.list_container_instances(cluster=cluster)["containerInstanceArns"],
                 "the agent to register", 60)

        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        lb = elbv2.create_load_balancer(Name="scale")["LoadBalancers"][0]
        group = elbv2.create_target_group(
            Name="scale", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        port = free_port()
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        definition = ecs.register_task_definition(family="scale", containerDefinitions=[{
            "name": "web", "image": "berth-demo:latest", "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=definition, desiredCount=1,
                           loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}])

        def states():
            return sorted(d["TargetHealth"]["State"] for d in
                          elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"])

        wait_for(lambda: states() == ["healthy"], "the first target to be healthy", args.timeout)
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
    finally:
        stop(agent)
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
