"""What the bench drivers share: boto3 clients of Berth, bounded waits, ECS task listings, the
Docker Engine API over its unix socket, the signal handling that lets a driver clean up after
itself, and, for the drivers that run Berth themselves, a `berth server` + `berth agent` pair with
a service behind a listener. The drivers are run as `python3 bench/NAME.py`, which puts bench/ on
the module path."""

import datetime
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3
import botocore.config

REGION = "us-east-1"
# No retries, so that a failure shows up as a failure rather than as a slow launch or rollout.
NO_RETRIES = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 10, "read_timeout": 30}
# The driver's name, for its messages.
NAME = f"bench/{Path(sys.argv[0]).name}"


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failed run: reported in one line (by `run`), after the driver's cleanup."""


def client(service, url, **config):
    """A boto3 client of Berth at `url`, with botocore Config options `config`. Credentials as
    boto3 finds them: the shell scripts point AWS_SHARED_CREDENTIALS_FILE at the server's root
    credentials."""
    return boto3.client(service, endpoint_url=url, region_name=REGION, config=botocore.config.Config(**config))


def run(body, cleanup=lambda: None):
    """Runs `body`, then `cleanup` however it ended; returns the exit status: 0, 1 after a
    BenchError, 130 when interrupted. SIGTERM (the shell script's trap) unwinds like Ctrl-C, so
    that cleanup runs; SIGINT is installed explicitly, as bash starts background jobs with it
    ignored and Python keeps that. Both are ignored during cleanup, which must not be cut short."""
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        body()
        return 0
    except BenchError as e:
        log(f"{NAME}: {e}")
        return 1
    except KeyboardInterrupt:
        log(f"{NAME}: interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cleanup()


def wait_for(condition, what, timeout, step=0.5):
    """Polls `condition` every `step` seconds until it returns something true, and returns that;
    ends the driver if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"{NAME}: timed out after {timeout} s waiting for {what}")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process):
    """SIGTERM, then SIGKILL after 10 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ----- ECS -----

def wait_for_instance(ecs, cluster, timeout=60):
    """Waits until the cluster's one container instance (the bench's agent) is registered and
    connected; returns it, described."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        if len(arns) == 1:
            described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
            if described and described[0].get("agentConnected"):
                return described[0]
        elif len(arns) > 1:
            raise BenchError(f"expected one container instance in {cluster}, found {len(arns)}")
        time.sleep(0.2)
    raise BenchError(f"the agent did not register within {timeout} s")


def list_tasks(ecs, cluster, **filters):
    """The ARNs of every task ListTasks finds with `filters`, over all pages."""
    arns = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, **filters):
        arns.extend(page["taskArns"])
    return arns


def describe_tasks(ecs, cluster, arns):
    """DescribeTasks of every task in `arns`, 100 (the most one call takes) at a time."""
    tasks = []
    for start in range(0, len(arns), 100):
        response = ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])
        if response.get("failures"):
            raise BenchError(f"DescribeTasks failures: {response['failures'][:3]}")
        tasks.extend(response["tasks"])
    return tasks


# ----- the Docker Engine -----

def docker_timestamp(value):
    """Seconds since the epoch of an Engine timestamp (RFC 3339 with up to nanoseconds); None for
    the zero time (not yet happened)."""
    if not value or value.startswith("0001-"):
        return None
    main, _, fraction = value.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in fraction:
            fraction, _, zone = fraction.partition(sign)
            zone = sign + zone
    seconds = datetime.datetime.fromisoformat(main + (zone or "+00:00")).timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class Engine:
    """A long-lived Docker Engine API client over the unix socket: one keep-alive connection, so
    one Engine per thread."""

    def __init__(self, timeout=60):
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if not host.startswith("unix://"):
            raise BenchError(f"needs the Docker Engine on a unix socket (DOCKER_HOST={host})")
        self.path = host[len("unix://"):]
        self.timeout = timeout
        self.conn = UnixHTTPConnection(self.path, timeout)

    def call(self, method, path, body=None, query=None, expect=(200,)):
        """The decoded JSON answer (None if empty); a status not in `expect` is a BenchError."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                # The engine closed an idle keep-alive connection: one reconnect, then fail.
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path, self.timeout)
                if attempt:
                    raise
        if response.status not in expect:
            raise BenchError(f"Docker Engine {method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def containers(self, label):
        """The ids of every container (running or not) labelled `label` (KEY=VALUE)."""
        listed = self.call("GET", "/containers/json", query={"all": "1", "filters": json.dumps({"label": [label]})})
        return {c["Id"] for c in listed}


# ----- Berth run by the driver itself -----

class LocalBerth:
    """A `berth server` of the driver's own (a free loopback port, a temporary data directory, and
    `server_args`) and one `berth agent` for `cluster` on the local Docker Engine, registered, with
    `--task-cleanup-wait 0`. As a context manager: however it ends, the agent is stopped, the
    containers Berth ran for the cluster (and no others) are removed, the server is stopped and the
    data directory deleted."""

    def __init__(self, berth, prefix, cluster, server_args=()):
        self.berth, self.cluster, self.server_args = berth, cluster, list(server_args)
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))
        self.server = self.agent = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_):
        self.close()

    def start(self):
        self.server = subprocess.Popen(
            [self.berth, "server", "--listen", "127.0.0.1:0", "--data-dir", str(self.workdir / "server"),
             *self.server_args],
            stdout=subprocess.PIPE, stderr=open(self.workdir / "server.log", "w"), text=True)
        ready, _, _ = select.select([self.server.stdout], [], [], 30)
        line = self.server.stdout.readline() if ready else ""
        if not line.startswith("berth ready: "):
            raise SystemExit(f"{NAME}: berth server did not get ready ({line!r})")
        self.url = line.split(": ", 1)[1].strip()
        credentials = self.workdir / "server" / "credentials"
        self.keys = dict(l.split(" = ", 1) for l in credentials.read_text().splitlines() if " = " in l)
        self.ecs, self.elbv2 = self.client("ecs"), self.client("elbv2")
        self.ecs.create_cluster(clusterName=self.cluster)
        # The agent signs with the server's root credentials, not with any of the caller's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
        self.agent = subprocess.Popen(
            [self.berth, "agent", "--server", self.url, "--cluster", self.cluster,
             "--data-dir", str(self.workdir / "agent"), "--task-cleanup-wait", "0"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "agent.log", "w"), env=env)
        wait_for(lambda: self.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"],
                 "the agent to register", 60)

    def client(self, service):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=self.keys["aws_access_key_id"].strip(),
                            aws_secret_access_key=self.keys["aws_secret_access_key"].strip(),
                            config=botocore.config.Config(retries={"max_attempts": 3}))

    def service_behind_listener(self, name, service, desired, group_attributes=(), **service_options):
        """A load balancer `name` with an HTTP listener on a free loopback port, forwarding to an
        `instance` target group `name` (health checks every 5 s, healthy after 2, then
        `group_attributes`), and a service `service` of `desired` berth-demo tasks (task definition
        family `name`, 64 MiB, port 8080 on a dynamic host port) behind it, with
        `service_options`. Returns (the load balancer, the target group's ARN, the port)."""
        elbv2 = self.elbv2
        vpc = self.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        lb = elbv2.create_load_balancer(Name=name)["LoadBalancers"][0]
        group = elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        if group_attributes:
            elbv2.modify_target_group_attributes(TargetGroupArn=group, Attributes=list(group_attributes))
        port = free_port()
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        definition = self.ecs.register_task_definition(family=name, containerDefinitions=[{
            "name": "web", "image": "berth-demo:latest", "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(cluster=self.cluster, serviceName=service, taskDefinition=definition,
                                desiredCount=desired, **service_options,
                                loadBalancers=[{"targetGroupArn": group, "containerName": "web",
                                                "containerPort": 8080}])
        return lb, group, port

    def target_states(self, group):
        """The health states of the target group's targets, sorted."""
        return sorted(d["TargetHealth"]["State"] for d in
                      self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"])

    def close(self):
        stop(self.agent)
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={self.cluster}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        stop(self.server)
        shutil.rmtree(self.workdir, ignore_errors=True)
