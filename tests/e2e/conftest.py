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


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
