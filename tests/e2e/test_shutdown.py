"""Shutdown: `berth server`, `berth agent` and `berth up` exit within 200 ms of SIGTERM with
clients, agents and calls in flight, lose no acknowledged write, and leave tasks running for the
agent's restart."""

import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, free_port
from test_tasks import cluster, container_state, demo_image, register, wait_for, wait_status  # noqa: F401

EXIT_WITHIN = 0.2


def client(url):
    return boto3.client("ecs", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2,
                                                      read_timeout=5))


class Writers:
    """Threads registering task definitions until told to stop; every revision the server
    acknowledged is remembered per family."""

    def __init__(self, url, count=4):
        self.acknowledged = {}
        self.refused = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.write, args=(url, f"shutdown-{i}")) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def write(self, url, family):
        ecs = client(url)
        while not self.stopping.is_set():
            try:
                revision = register(ecs, family=family)["revision"]
            except BotoCoreError:  # the connection went with the server
                return
            except ClientError as err:  # a server answers every call it takes, or none
                with self.lock:
                    self.refused.append(err.response["Error"])
                return
            with self.lock:
                self.acknowledged[family] = revision

    def wait_for_writes(self, at_least):
        wait_for(lambda: sum(self.acknowledged.values()) >= at_least, f"{at_least} acknowledged writes")

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)


def idle_connection(port):
    """A client that connected and sent half a request: the server must not wait for it."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    return sock


def seconds_to_exit(process):
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    return time.monotonic() - started


def test_server_and_agent_exit_within_200_ms_and_keep_what_they_acknowledged(cluster, berth):
    name, ecs, _, agents = cluster
    register(ecs, family="keeps-running")
    task = ecs.run_task(cluster=name, taskDefinition="keeps-running")["tasks"][0]
    running = wait_status(ecs, name, task["taskArn"], "RUNNING")
    runtime_id = running["containers"][0]["runtimeId"]

    writers = Writers(berth.url)
    half_sent = idle_connection(berth.port)
    try:
        writers.wait_for_writes(20)
        took = seconds_to_exit(berth.process)
    finally:
        writers.stop()
        half_sent.close()
    assert writers.refused == []
    assert berth.process.returncode == 0
    assert took < EXIT_WITHIN, f"berth server took {took * 1000:.0f} ms to exit"

    # The agent, its control plane gone, still exits at once and leaves its task's container.
    [agent] = agents
    took = seconds_to_exit(agent.process)
    assert took < EXIT_WITHIN, f"berth agent took {took * 1000:.0f} ms to exit"
    assert container_state(runtime_id) == "running"

    berth.start()
    restarted = berth.client()
    for family, revision in writers.acknowledged.items():
        latest = restarted.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"]
        assert latest >= revision, f"{family}: revision {revision} was acknowledged, {latest} survived"
    agent.start()
    assert wait_status(restarted, name, task["taskArn"], "RUNNING")["containers"][0]["runtimeId"] == runtime_id


def test_berth_up_exits_within_200_ms_with_calls_in_flight(berth_binary):
    with tempfile.TemporaryDirectory(prefix="berth-up-") as data_dir:
        Path(data_dir, "credentials").write_text(
            f"[default]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n")
        port = free_port()
        process = subprocess.Popen([str(berth_binary), "up", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdout.readline().strip() == f"berth ready: http://127.0.0.1:{port}"
            url = f"http://127.0.0.1:{port}"
            # Its own agent has joined the default cluster.
            wait_for(lambda: client(url).list_container_instances(cluster="default")["containerInstanceArns"],
                     "the local agent")
            writers = Writers(url)
            half_sent = idle_connection(port)
            try:
                writers.wait_for_writes(20)
                took = seconds_to_exit(process)
            finally:
                writers.stop()
                half_sent.close()
            assert writers.refused == []
            assert process.returncode == 0
            assert took < EXIT_WITHIN, f"berth up took {took * 1000:.0f} ms to exit"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
