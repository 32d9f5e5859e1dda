"""End-to-end fixtures: a real `berth server` on a free loopback port with its own data directory,
driven through real AWS clients (boto3 and aws-cli)."""

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import http.client
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
# The account's root keys in every test server: clients sign with them and Berth verifies.
ACCESS_KEY_ID = "AKIDBERTHTEST"
SECRET_ACCESS_KEY = "secret"


def sign(method, url, body, headers, region="us-east-1", service="ecs",
         access_key=ACCESS_KEY_ID, secret_key=SECRET_ACCESS_KEY, token=None):
    """Headers with a SigV4 signature, as botocore signs its own requests."""
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    credentials = botocore.credentials.Credentials(access_key, secret_key, token)
    botocore.auth.SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="session")
def berth_binary():
    subprocess.run(["cargo", "build", "--quiet", "-p", "berth"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "berth"
    assert binary.exists(), binary
    return binary


REQUIRE_DOCKER = "BERTH_REQUIRE_DOCKER"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def docker_host():
    """The engine's address as the agent and the docker CLI find it: DOCKER_HOST, else the
    local socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_connection(timeout=30):
    """An HTTP connection to the Docker Engine API at `docker_host()`."""
    host = docker_host()
    if host.startswith("unix://"):
        return _UnixHTTPConnection(host[len("unix://"):], timeout=timeout)
    if host.startswith(("tcp://", "http://")):
        return http.client.HTTPConnection(host.split("://", 1)[1].rstrip("/"), timeout=timeout)
    raise ValueError(f"DOCKER_HOST={host} is neither unix:// nor tcp://")


def docker_engine_problem():
    """Why no Docker engine answers at `docker_host()`, or None when one does."""
    host = docker_host()
    try:
        connection = engine_connection(timeout=5)
        connection.request("GET", "/_ping")
        response = connection.getresponse()
        body = response.read()
        connection.close()
    except (OSError, ValueError, http.client.HTTPException) as err:
        return f"{host}: {err}"
    if response.status != 200 or body != b"OK":
        return f"{host} answered /_ping with {response.status} {body[:100]!r}"
    return None


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine for the tests that run containers. Without one they are skipped, and
    pytest lists them as skipped with the reason; with BERTH_REQUIRE_DOCKER set (as `.ci/run`
    sets it) they fail instead."""
    problem = docker_engine_problem()
    if problem:
        if os.environ.get(REQUIRE_DOCKER, "") not in ("", "0"):
            pytest.fail(f"no Docker engine ({problem}), and {REQUIRE_DOCKER} is set", pytrace=False)
        pytest.skip(f"no Docker engine: {problem}")


_PORT_LOCKS = Path(tempfile.gettempdir()) / "berth-e2e-ports"
_held_ports = []  # the open lock files: a port stays claimed until this process exits


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port no one else will take before the test binds it. Binding port 0 and closing
    would hand out a port from the ephemeral range, where any outgoing connection (and Docker's
    dynamic host ports) may take it before the server binds it. These ports come from below
    that range instead, and each is claimed with an exclusive lock under the temporary
    directory, held until this process exits, so concurrent test runs on the machine never get
    the same port."""
    import fcntl
    import random

    high = _ephemeral_low()
    low = max(1024, high - 12000)
    _PORT_LOCKS.mkdir(exist_ok=True)
    for _ in range(500):
        port = random.randrange(low, high)
        lock = open(_PORT_LOCKS / str(port), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                lock.close()
                continue
        _held_ports.append(lock)
        return port
    raise AssertionError(f"no free port between {low} and {high}")


def stop_process(process):
    """SIGTERM, then SIGKILL after 10 s, for a process a test started."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Berth:
    """One `berth server` process; restartable on the same data directory and port."""

    def __init__(self, binary, data_dir, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        credentials = self.data_dir / "credentials"
        if not credentials.exists():
            credentials.write_text(
                f"[default]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n")
        self.process = subprocess.Popen(
            # Agents killed for good in the service tests are given up on after 8 s, not 60.
            [str(self.binary), "server", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
             "--agent-lost-after", "8", *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        assert ready, "berth server did not print its ready line within 30 s"
        line = self.process.stdout.readline()
        assert line.strip() == f"berth ready: {self.url}", f"unexpected first line {line!r}"

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        stop_process(self.process)

    def client(self, service="ecs", region="us-east-1"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def aws(self, *args, check=True):
        """Runs aws-cli against this server; returns parsed JSON output (or the CompletedProcess
        when check=False)."""
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
                   AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
        done = subprocess.run(
            ["aws", "--endpoint-url", self.url, "--output", "json", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def raw(self, operation, body, headers=None, content_type="application/x-amz-json-1.1", signed=True):
        """Sends a hand-made request, for the bad input no real client would send. It is signed
        with the root keys unless `signed` is false or `headers` bring their own Authorization."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {"X-Amz-Target": f"{TARGET_PREFIX}.{operation}"} if operation else {}
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        if signed and "Authorization" not in all_headers:
            all_headers = sign("POST", self.url + "/", body, all_headers)
        connection.request("POST", "/", body=body, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, json.loads(payload) if payload else None


@contextlib.contextmanager
def running_berth(binary, *extra_args):
    """A started `berth server` with its own data directory and `extra_args`, stopped after."""
    with tempfile.TemporaryDirectory(prefix="berth-e2e-") as data_dir:
        server = Berth(binary, Path(data_dir), extra_args=list(extra_args))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def berth(berth_binary):
    with running_berth(berth_binary) as server:
        yield server


@pytest.fixture
def ecs(berth):
    return berth.client()


def pytest_sessionfinish(session, exitstatus):
    """Where Docker is required (BERTH_REQUIRE_DOCKER, set by `.ci/run`), a skipped test fails the
    run: nothing in this suite skips for any other reason."""
    if os.environ.get(REQUIRE_DOCKER, "") in ("", "0"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"{len(skipped)} test(s) skipped although {REQUIRE_DOCKER} is set:", red=True)
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
