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


def wait_for(condition, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"lb_rolling_deploy: timed out after {timeout} s waiting for {what}")


def stop(process):
    """SIGTERM, then SIGKILL after 10 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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

    workdir = Path(tempfile.mkdtemp(prefix="berth-lb-roll-"))
    cluster = f"bench-lb-roll-{uuid.uuid4().hex[:8]}"
    server = agent = None
    # SIGTERM from lb.sh's trap becomes an exception, so the finally block still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        server = subprocess.Popen(
            [berth, "server", "--listen", "127.0.0.1:0", "--data-dir", str(workdir / "server")],
            stdout=subprocess.PIPE, stderr=open(workdir / "server.log", "w"), text=True)
        ready, _, _ = select.select([server.stdout], [], [], 30)
        line = server.stdout.readline() if ready else ""
        if not line.startswith("berth ready: "):
            raise SystemExit(f"lb_rolling_deploy: berth server did not get ready ({line!r})")
        url = line.split(": ", 1)[1].strip()
        credentials = workdir / "server" / "credentials"
        keys = dict(l.split(" = ", 1) for l in credentials.read_text().splitlines() if " = " in l)

        def client(service):
            return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                                aws_access_key_id=keys["aws_access_key_id"].strip(),
                                aws_secret_access_key=keys["aws_secret_access_key"].strip(),
                                config=botocore.config.Config(retries={"max_attempts": 3}))

        ecs, elbv2, ec2 = client("ecs"), client("elbv2"), client("ec2")
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
        lb = elbv2.create_load_balancer(Name="roll")["LoadBalancers"][0]
        group = elbv2.create_target_group(
            Name="roll", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        port = free_port()
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        definition = ecs.register_task_definition(family="roll", containerDefinitions=[{
            "name": "web", "image": "berth-demo:latest", "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName="roll", taskDefinition=definition,
                           desiredCount=args.tasks,
                           deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
                           loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}])

        def states():
            return sorted(d["TargetHealth"]["State"] for d in
                          elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"])

        wait_for(lambda: states() == ["healthy"] * args.tasks, "every target to be healthy", args.timeout)
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
                    and states() == ["healthy"] * args.tasks

            wait_for(rolled, "the new deployment to replace every task", args.timeout)
            log(f"lb_rolling_deploy: rolled in {time.monotonic() - started:.1f} s")
        failures = sum(load.failed.values())
        if load.failed:
            log(f"lb_rolling_deploy: failures by kind: {load.failed}")
        print(f"rolling_deploy_5xx: {failures} of {load.sent} requests", flush=True)
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
