"""End-to-end tests of the demo workload: `berth demo image` builds berth-demo:latest through the
Docker Engine API with no registry, and containers started from it behave as the interface says,
checked over real HTTP on loopback and through Docker's own view (exit codes, logs, health)."""

import http.client
import json
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import engine_connection
from test_tasks import engine_time

IMAGE = "berth-demo:latest"
# Every container carries berth-test=1; the per-run label is what teardown removes by, so that a
# concurrent test session's containers are left alone.
RUN_LABEL = f"berth-test-run={uuid.uuid4().hex[:12]}"


def docker(*args, check=True, timeout=60):
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def engine_api(method, path, body=None):
    connection = engine_connection()
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, f"/v1.41{path}", body=payload,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


class Containers:
    """Containers started from the demo image; all of them removed at teardown."""

    def __init__(self):
        self.ids = []

    def run(self, *args, publish=8080):
        """`docker run -d` with the test labels; `args` go after the image (the workload's
        arguments). Returns the container id."""
        options = ["--label", "berth-test=1", "--label", RUN_LABEL]
        if publish:
            options += ["-p", f"127.0.0.1::{publish}"]
        done = docker("run", "-d", *options, IMAGE, *args)
        container = done.stdout.strip()
        self.ids.append(container)
        return container

    def run_foreground(self, *args):
        """`docker run --rm` in the foreground: the CompletedProcess carries the exit code and
        the workload's stdout and stderr."""
        return docker("run", "--rm", "--label", "berth-test=1", "--label", RUN_LABEL, IMAGE, *args,
                      check=False, timeout=60)

    def track(self, container):
        self.ids.append(container)

    def port(self, container, private=8080):
        done = docker("port", container, f"{private}/tcp")
        return int(done.stdout.splitlines()[0].rsplit(":", 1)[1])

    def state(self, container):
        return json.loads(docker("inspect", container).stdout)[0]["State"]

    def wait_exit(self, container, timeout=20):
        state = wait_for(lambda: (lambda s: s if s["Status"] == "exited" else None)(self.state(container)),
                         timeout, f"container {container[:12]} to exit")
        return state["ExitCode"]

    def stdout(self, container):
        # The workload's stdout only; `docker logs` keeps stderr apart.
        return docker("logs", container).stdout

    def serve(self, *args, private=8080):
        """Starts a server container and waits until it answers; returns (container, port)."""
        container = self.run(*args, publish=private)
        port = self.port(container, private)
        wait_for(lambda: answers(port), 15, "the demo server to answer")
        return container, port

    def remove_all(self):
        for container in self.ids:
            docker("rm", "-f", "-v", container, check=False)
        leftovers = docker("ps", "-aq", "--filter", f"label={RUN_LABEL}", check=False).stdout.split()
        if leftovers:
            docker("rm", "-f", "-v", *leftovers, check=False)


def request(port, method, path, headers=None, body=None, timeout=15):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def answers(port):
    try:
        return request(port, "GET", "/health", timeout=2)[0] in (200, 503)
    except (OSError, http.client.HTTPException):
        # Before the workload listens, docker-proxy accepts and then drops the connection.
        return False


def raw_exchange(port, payload, timeout=10):
    """Sends bytes, reads until the server closes; fails if it never does."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.fixture(scope="module")
def demo_image(berth_binary, docker_engine):
    done = subprocess.run([str(berth_binary), "demo", "image"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(r"built berth-demo:latest \((sha256:[0-9a-f]{64})\)", done.stdout.strip())
    assert match, done.stdout
    return match.group(1)


@pytest.fixture
def containers(demo_image):
    started = Containers()
    try:
        yield started
    finally:
        started.remove_all()


def test_image_is_the_static_workload_from_scratch(demo_image):
    image = json.loads(docker("image", "inspect", IMAGE).stdout)[0]
    assert image["Id"] == demo_image
    config = image["Config"]
    assert config["Entrypoint"] == ["/berth-demo"]
    assert config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["io.berth.demo"] == "true"
    assert image["Os"] == "linux"
    # FROM scratch plus one static executable: one layer, a few MB at most.
    assert len(image["RootFS"]["Layers"]) == 1
    assert image["Size"] < 5_000_000, image["Size"]


def test_rebuilding_is_idempotent(berth_binary, demo_image):
    done = subprocess.run([str(berth_binary), "demo", "image"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"built {IMAGE} ({demo_image})"


def test_root_names_the_host(containers):
    container, port = containers.serve()
    hostname = json.loads(docker("inspect", container).stdout)[0]["Config"]["Hostname"]
    status, headers, body = request(port, "GET", "/")
    assert (status, body) == (200, f"berth-demo on {hostname}\n".encode())
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, body = request(port, "HEAD", "/")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(f"berth-demo on {hostname}\n"))


def test_health_fails_and_recovers(containers):
    _, port = containers.serve()
    assert request(port, "GET", "/health")[::2] == (200, b"ok")
    assert request(port, "POST", "/health/fail")[0] == 200
    assert request(port, "GET", "/health")[::2] == (503, b"failing")
    assert request(port, "POST", "/health/ok", body=b"ignored")[0] == 200
    assert request(port, "GET", "/health")[::2] == (200, b"ok")
    status, headers, _ = request(port, "GET", "/health/fail")
    assert (status, headers["Allow"]) == (405, "POST")


def test_cpu_burns_the_asked_time(containers):
    _, port = containers.serve()
    started = time.monotonic()
    assert request(port, "GET", "/cpu?ms=300")[0] == 200
    assert time.monotonic() - started >= 0.3
    assert request(port, "GET", "/cpu")[0] == 400


def test_log_writes_the_decoded_line_to_stdout(containers):
    container, port = containers.serve()
    assert request(port, "GET", "/log?line=hello%20from+berth%21%20caf%C3%A9")[0] == 200
    wait_for(lambda: "hello from berth! café" in containers.stdout(container).splitlines(), 10,
             "the logged line in docker logs")
    assert request(port, "GET", "/log")[0] == 400


def test_unknown_paths_are_404(containers):
    _, port = containers.serve()
    assert request(port, "GET", "/nope")[0] == 404
    assert request(port, "DELETE", "/")[0] == 405


def test_keep_alive_and_connection_close(containers):
    _, port = containers.serve()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/health")
        first = connection.getresponse()
        assert first.read() == b"ok"
        sock = connection.sock
        for _ in range(3):
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
        assert connection.sock is sock, "the connection was not kept alive"
    finally:
        connection.close()
    # Both answered and then closed by the server (raw_exchange reads until EOF).
    reply = raw_exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\nok")
    assert b"Connection: close\r\n" in reply
    reply = raw_exchange(port, b"GET /health HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\nok")
    reply = raw_exchange(port, b"NONSENSE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_exit_endpoint_answers_then_exits_with_the_code(containers):
    container, port = containers.serve()
    status, _, body = request(port, "GET", "/exit?code=7")
    assert (status, body) == (200, b"exiting with code 7\n")
    assert containers.wait_exit(container) == 7


def catches_sigterm(state):
    """Whether the container's process has a SIGTERM handler, from the kernel's own record
    (SigCgt in /proc/PID/status of the host, where the engine runs)."""
    if not state["Running"] or not state["Pid"]:
        return False
    status = Path(f"/proc/{state['Pid']}/status").read_text()
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("args", [(), ("log", "--lines", "2"), ("exit", "0", "--after", "120")],
                         ids=["serve", "log", "exit-after"])
def test_sigterm_exits_cleanly(containers, args):
    container = containers.run(*args, publish=None)
    wait_for(lambda: catches_sigterm(containers.state(container)), 10, "the workload to install its handler")
    started = time.monotonic()
    docker("stop", "-t", "30", container, timeout=60)
    # Well under docker's 30 s grace: the workload itself exited on SIGTERM, not a SIGKILL.
    assert time.monotonic() - started < 10
    state = containers.state(container)
    assert (state["ExitCode"], state["OOMKilled"]) == (0, False)


def test_port_flag_and_no_arguments(containers):
    _, port = containers.serve("serve", "--port", "9090", private=9090)
    assert request(port, "GET", "/health")[::2] == (200, b"ok")
    # No arguments at all (the image's CMD is `serve`; an entrypoint override clears it).
    done = docker("run", "-d", "--label", "berth-test=1", "--label", RUN_LABEL, "-p", "127.0.0.1::8080",
                  "--entrypoint", "/berth-demo", IMAGE)
    container = done.stdout.strip()
    containers.track(container)
    port = containers.port(container)
    wait_for(lambda: answers(port), 15, "the argument-less workload to serve on 8080")


def test_exit_command(containers):
    assert containers.wait_exit(containers.run("exit", "3", publish=None)) == 3
    container = containers.run("exit", "4", "--after", "1.5", publish=None)
    assert containers.wait_exit(container) == 4
    # Docker's own record of the process's life: it waited its delay.
    state = containers.state(container)
    lived = engine_time(state["FinishedAt"]) - engine_time(state["StartedAt"])
    assert 1_500_000_000 <= lived < 10_000_000_000, lived


def test_log_command_prints_numbered_lines_and_keeps_running(containers):
    first = containers.run("log", "--lines", "5", publish=None)
    five = [f"line {n}" for n in range(1, 6)]
    wait_for(lambda: containers.stdout(first).splitlines() == five, 10, "five lines")

    container = containers.run("log", "--lines", "6", "--rate", "4", publish=None)
    started = time.monotonic()
    expected = [f"line {n}" for n in range(1, 7)]
    wait_for(lambda: containers.stdout(container).splitlines() == expected, 15, "six paced lines")
    # Six lines at 4 per second span 1.25 s.
    assert time.monotonic() - started >= 1.0
    # All that while, the first kept running and printed nothing more.
    assert containers.state(first)["Running"]
    assert containers.stdout(first).splitlines() == five


def test_check_command(containers):
    container, port = containers.serve()

    def check(url):
        return docker("exec", container, "/berth-demo", "check", url, check=False, timeout=30).returncode

    hostname = json.loads(docker("inspect", container).stdout)[0]["Config"]["Hostname"]
    assert check("http://127.0.0.1:8080/health") == 0
    assert check("http://localhost:8080/") == 0
    assert check(f"http://{hostname}:8080/health") == 0
    assert check("http://127.0.0.1:8080/nope") == 1
    assert check("http://127.0.0.1:1/health") == 1
    assert request(port, "POST", "/health/fail")[0] == 200
    assert check("http://127.0.0.1:8080/health") == 1
    assert check("not-a-url") == 2


def test_health_check_in_exec_form(containers):
    """The exact healthCheck ECS task definitions use; the CLI's --health-cmd would wrap it in a
    shell, which the image does not have, so the container is created through the Engine API."""
    status, created = engine_api("POST", "/containers/create", {
        "Image": IMAGE,
        "Labels": {"berth-test": "1", RUN_LABEL.split("=")[0]: RUN_LABEL.split("=")[1]},
        "Healthcheck": {
            "Test": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"],
            "Interval": 500_000_000, "Timeout": 5_000_000_000, "Retries": 1,
        },
        "ExposedPorts": {"8080/tcp": {}},
        "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    })
    assert status == 201, created
    container = created["Id"]
    containers.track(container)
    status, _ = engine_api("POST", f"/containers/{container}/start")
    assert status == 204

    def health():
        return containers.state(container).get("Health", {}).get("Status")

    wait_for(lambda: health() == "healthy", 30, "the container to become healthy")
    port = containers.port(container)
    assert request(port, "POST", "/health/fail")[0] == 200
    wait_for(lambda: health() == "unhealthy", 30, "the container to become unhealthy")


def test_unknown_arguments_print_usage_and_exit_2(containers):
    for args in (["bogus"], ["serve", "--port", "http"], ["exit"], ["log"], ["check"]):
        done = containers.run_foreground(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "usage: berth-demo" in done.stderr, args
