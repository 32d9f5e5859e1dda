"""The platform every service stands on, through real clients: SigV4 verified on every request of
every protocol, STS, regions as namespaces, presigned URLs, the dummy-credentials mode, and
connections that cannot be starved by slow clients."""

import datetime
import http.client
import json
import socket
import subprocess
import tempfile
import time
import unittest.mock
from pathlib import Path

import boto3
import botocore.auth
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Berth, running_berth, sign, stop_process

NO_RETRIES = botocore.config.Config(retries={"max_attempts": 1})


def client(berth, service, region="us-east-1", key=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY, token=None):
    return boto3.client(service, endpoint_url=berth.url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token, config=NO_RETRIES)


def error_code(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_get_caller_identity_with_the_cli(berth):
    identity = berth.aws("sts", "get-caller-identity")
    assert identity == {"UserId": "000000000000", "Account": "000000000000",
                        "Arn": "arn:aws:iam::000000000000:root"}


def test_session_tokens_are_accepted_with_their_token_only(berth):
    sts = client(berth, "sts")
    credentials = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    lifetime = credentials["Expiration"].timestamp() - time.time()
    assert 800 < lifetime <= 900
    key, secret, token = credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    temporary = client(berth, "sts", key=key, secret=secret, token=token)
    assert temporary.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    assert client(berth, "ecs", key=key, secret=secret, token=token).list_clusters()["clusterArns"] == []
    # Temporary keys without their token, or with another one, are not valid credentials.
    assert error_code(client(berth, "sts", key=key, secret=secret).get_caller_identity) == ("InvalidClientTokenId", 403)
    assert error_code(client(berth, "ecs", key=key, secret=secret, token=token + "x").list_clusters) == \
        ("UnrecognizedClientException", 400)
    # Session credentials cannot mint more sessions; root sessions last at most an hour.
    assert error_code(temporary.get_session_token)[0] == "AccessDenied"
    assert error_code(lambda: sts.get_session_token(DurationSeconds=7200))[0] == "ValidationError"


@pytest.mark.parametrize("service, call, codes", [
    ("ecs", lambda c: c.list_clusters(), {
        "unknown": ("UnrecognizedClientException", 400), "bad": ("InvalidSignatureException", 400),
        "unsigned": ("MissingAuthenticationTokenException", 400), "expired": ("InvalidSignatureException", 400)}),
    ("sts", lambda c: c.get_caller_identity(), {
        "unknown": ("InvalidClientTokenId", 403), "bad": ("SignatureDoesNotMatch", 403),
        "unsigned": ("MissingAuthenticationToken", 403), "expired": ("SignatureDoesNotMatch", 403)}),
    ("ec2", lambda c: c.describe_vpcs(), {
        "unknown": ("AuthFailure", 401), "bad": ("AuthFailure", 401),
        "unsigned": ("MissingAuthenticationToken", 401), "expired": ("RequestExpired", 400)}),
])
def test_the_signature_failures_of_each_protocol(berth, service, call, codes):
    assert error_code(lambda: call(client(berth, service, key="AKIDSTRANGER"))) == codes["unknown"]
    assert error_code(lambda: call(client(berth, service, secret="wrong"))) == codes["bad"]
    unsigned = boto3.client(service, endpoint_url=berth.url, region_name="us-east-1", config=botocore.config.Config(
        signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    assert error_code(lambda: call(unsigned)) == codes["unsigned"]
    # Signed 16 minutes ago: outside the 15 minutes of skew AWS allows.
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
    with unittest.mock.patch.object(botocore.auth, "get_current_datetime", lambda: past):
        assert error_code(lambda: call(client(berth, service))) == codes["expired"]


def test_only_real_regions_are_namespaces(berth):
    """A region AWS does not have is refused at the door, so it never becomes a namespace."""
    code, status = error_code(client(berth, "ecs", "xx-nowhere-1").list_clusters)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert error_code(client(berth, "sts", "xx-nowhere-1").get_caller_identity)[0] == "SignatureDoesNotMatch"


def test_a_replayed_request_outside_the_skew_window_is_refused(berth):
    """A request signed 16 minutes ago, as an attacker would replay it, changes nothing."""
    body = json.dumps({"clusterName": "replayed"}).encode()
    headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.CreateCluster",
               "Content-Type": "application/x-amz-json-1.1"}
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    request = botocore.awsrequest.AWSRequest(method="POST", url=berth.url + "/", data=body, headers=headers)
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "ecs",
                                     "us-east-1")
    sixteen_minutes_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
    with unittest.mock.patch.object(botocore.auth, "get_current_datetime", lambda: sixteen_minutes_ago):
        signer.add_auth(request)
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=10)
    connection.request("POST", "/", body=body, headers=dict(request.headers.items()))
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 400 and answer["__type"] == "InvalidSignatureException", answer
    assert "Signature expired" in answer["message"]
    assert berth.client().list_clusters()["clusterArns"] == []


def test_a_signature_over_other_headers_than_those_sent_is_refused(berth):
    body = b"{}"
    headers = {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
               "Content-Type": "application/x-amz-json-1.1", "X-Extra": "signed"}
    signed = sign("POST", berth.url + "/", body, headers)
    signed["X-Extra"] = "changed"
    assert berth.raw("ListClusters", body, headers=signed)[1]["__type"] == "InvalidSignatureException"


def test_a_presigned_get_caller_identity_url_works_with_curl(berth):
    sts = client(berth, "sts")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    fetched = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", url], capture_output=True, text=True, timeout=30)
    body, _, status = fetched.stdout.rpartition("\n")
    assert status == "200", body
    assert "<Arn>arn:aws:iam::000000000000:root</Arn>" in body
    tampered = url.replace("Action=GetCallerIdentity", "Action=GetSessionToken")
    fetched = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", tampered], capture_output=True, text=True,
                             timeout=30)
    body, _, status = fetched.stdout.rpartition("\n")
    assert status == "403" and "<Code>SignatureDoesNotMatch</Code>" in body


def test_each_region_is_its_own_namespace(berth):
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    clients = {region: client(berth, "ecs", region) for region in regions}
    for region, ecs in clients.items():
        ecs.create_cluster(clusterName="web", tags=[{"key": "home", "value": region}])
        ecs.create_cluster(clusterName=f"only-{region}")
    for region, ecs in clients.items():
        arns = sorted(ecs.list_clusters()["clusterArns"])
        assert arns == [f"arn:aws:ecs:{region}:000000000000:cluster/only-{region}",
                        f"arn:aws:ecs:{region}:000000000000:cluster/web"]
        web = ecs.describe_clusters(clusters=["web"], include=["TAGS"])["clusters"][0]
        assert web["tags"] == [{"key": "home", "value": region}]
    clients["eu-west-1"].delete_cluster(cluster="web")
    assert clients["us-east-1"].describe_clusters(clusters=["web"])["clusters"][0]["status"] == "ACTIVE"
    # A cluster ARN of another region is not a cluster of this one.
    with pytest.raises(ClientError) as caught:
        clients["us-east-1"].describe_clusters(clusters=["arn:aws:ecs:eu-west-1:000000000000:cluster/only-eu-west-1"])
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"


def test_agents_join_clusters_in_their_own_region(berth, berth_binary):
    agents = []
    try:
        for region in ["us-east-1", "eu-west-1"]:
            client(berth, "ecs", region).create_cluster(clusterName="fleet")
            data_dir = Path(tempfile.mkdtemp(prefix="berth-agent-"))
            env = {"AWS_SHARED_CREDENTIALS_FILE": str(berth.data_dir / "credentials"), "PATH": "/usr/bin:/bin"}
            agents.append(subprocess.Popen(
                [str(berth_binary), "agent", "--server", berth.url, "--cluster", "fleet", "--region", region,
                 "--simulate", str(1 if region == "us-east-1" else 2), "--data-dir", str(data_dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        expected = {"us-east-1": 1, "eu-west-1": 2}
        for _ in range(100):
            counts = {region: len(client(berth, "ecs", region).list_container_instances(cluster="fleet")
                                  ["containerInstanceArns"]) for region in expected}
            if counts == expected:
                break
            time.sleep(0.1)
        assert counts == expected
        arns = client(berth, "ecs", "eu-west-1").list_container_instances(cluster="fleet")["containerInstanceArns"]
        assert all(arn.startswith("arn:aws:ecs:eu-west-1:000000000000:container-instance/fleet/") for arn in arns)
    finally:
        for agent in agents:
            stop_process(agent)


@pytest.fixture
def dummy_credentials_server(berth_binary):
    with running_berth(berth_binary, "--accept-any-credentials") as server:
        yield server


def test_dummy_credentials_are_the_root_only_when_asked_for(berth, dummy_credentials_server):
    test_keys = client(dummy_credentials_server, "sts", key="test", secret="test")
    assert test_keys.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    ecs = client(dummy_credentials_server, "ecs", key="test", secret="test")
    assert ecs.create_cluster(clusterName="local")["cluster"]["status"] == "ACTIVE"
    # The root keys are still verified, and by default nothing else gets in.
    assert error_code(client(dummy_credentials_server, "ecs", secret="wrong").list_clusters)[0] == \
        "InvalidSignatureException"
    assert error_code(client(berth, "ecs", key="test", secret="test").list_clusters)[0] == \
        "UnrecognizedClientException"


def closed_by_server(sock):
    """Reads (whatever the server says last) until the server closes the connection."""
    for _ in range(10):
        if not sock.recv(4096):
            return True
    return False


@pytest.fixture
def server_with_header_timeout(berth_binary):
    """Starts servers with a given --header-timeout; stops them after the test."""
    started = []

    def start(seconds):
        data_dir = tempfile.TemporaryDirectory(prefix="berth-e2e-")
        server = Berth(berth_binary, Path(data_dir.name), extra_args=["--header-timeout", str(seconds)])
        started.append((server, data_dir))
        server.start()
        return server

    yield start
    for server, data_dir in started:
        server.stop()
        data_dir.cleanup()


def test_slow_clients_cannot_starve_the_server(server_with_header_timeout):
    """With 10,000 connections open that each sent half a header, ordinary calls are still served
    at their usual latency."""
    impatient_server = server_with_header_timeout(120)
    ecs = impatient_server.client()
    ecs.list_clusters()

    def latency(samples=40):
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            ecs.list_clusters()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    baseline = latency()
    slow = []
    try:
        for _ in range(10_000):
            sock = socket.socket()
            sock.connect(("127.0.0.1", impatient_server.port))
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
            slow.append(sock)
        loaded = latency()
        assert loaded < max(5 * baseline, 0.05), (baseline, loaded)
        # They were all still open while the calls were served: the oldest has not been closed.
        slow[0].setblocking(False)
        with pytest.raises(BlockingIOError):
            slow[0].recv(1)
    finally:
        for sock in slow:
            sock.close()


def test_headers_that_do_not_arrive_in_time_close_the_connection(server_with_header_timeout):
    very_impatient_server = server_with_header_timeout(1)
    slow = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", very_impatient_server.port), timeout=10)
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
            slow.append(sock)
        for sock in slow:
            assert closed_by_server(sock)
    finally:
        for sock in slow:
            sock.close()


def test_idle_kept_alive_connections_are_closed(server_with_header_timeout):
    server = server_with_header_timeout(1)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = sign("POST", server.url + "/", b"{}", {
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1"})
    connection.request("POST", "/", body=b"{}", headers=headers)
    assert connection.getresponse().read()
    connection.sock.settimeout(5)
    assert closed_by_server(connection.sock)


def test_query_requests_that_are_not_well_formed(berth):
    """Bad query-protocol input gets the protocol's XML error, a 4xx, and runs nothing."""
    def post(body, content_type="application/x-www-form-urlencoded; charset=utf-8", service="sts"):
        headers = sign("POST", berth.url + "/", body, {"Content-Type": content_type}, service=service)
        connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=10)
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()

    for body, code in [
        (b"Action=Frobnicate&Version=2011-06-15", "InvalidAction"),
        (b"Action=GetCallerIdentity&Version=1999-01-01", "InvalidAction"),
        (b"Version=2011-06-15", "MissingAction"),
        (b"%zz&&==&Action=GetSessionToken&Version=2011-06-15&DurationSeconds=%3C%26%3E", "ValidationError"),
    ]:
        status, text = post(body)
        assert status == 400 and f"<Code>{code}</Code>" in text, (body, text)
        assert text.startswith("<ErrorResponse"), text
    status, text = post(b"Action=DescribeVpcs&Version=2016-11-15&Bogus.1=x", service="ec2")
    assert status == 400 and "<Code>UnknownParameter</Code>" in text and text.startswith("<Response>"), text
    # XML-hostile values come back escaped, in well-formed XML.
    status, text = post(b"Action=DescribeVpcs&Version=2016-11-15&VpcId.1=%3Cvpc%20%26%20%22x%22%3E", service="ec2")
    assert status == 400 and "&lt;vpc &amp; &quot;x&quot;&gt;" in text.replace("&#34;", "&quot;"), text
    # Neither a target nor a form: nothing to route.
    status, text = post(b"Action=GetCallerIdentity", content_type="text/plain")
    assert status == 400 and json.loads(text)["__type"] == "UnknownOperationException"


def test_a_query_service_berth_does_not_serve_is_refused_in_query_xml(berth):
    assert error_code(client(berth, "iam").list_users) == ("InvalidAction", 400)


def scrape(berth):
    """GET /metrics, unsigned, as Prometheus scrapes: {series: value}."""
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=10)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 200, text
    assert response.getheader("Content-Type").startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_prometheus_metrics_describe_the_control_plane(berth, berth_binary):
    ecs = client(berth, "ecs", "us-east-1")
    ecs.create_cluster(clusterName="watched")
    for _ in range(3):
        ecs.list_clusters()
    with pytest.raises(ClientError) as missing:
        ecs.describe_services(cluster="missing", services=["none"])
    assert missing.value.response["Error"]["Code"] == "ClusterNotFoundException"
    data_dir = Path(tempfile.mkdtemp(prefix="berth-agent-"))
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(berth.data_dir / "credentials"), "PATH": "/usr/bin:/bin"}
    agent = subprocess.Popen(
        [str(berth_binary), "agent", "--server", berth.url, "--cluster", "watched", "--region", "us-east-1",
         "--simulate", "2", "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        connected = 'berth_agents_connected{region="us-east-1"}'
        for _ in range(100):
            series = scrape(berth)
            if series.get(connected) == 2:
                break
            time.sleep(0.1)
        assert series.get(connected) == 2, series
        # Every call so far was answered and counted by service, operation and status.
        assert series['berth_api_requests_total{service="ecs",operation="ListClusters",status="200"}'] == 3
        assert series['berth_api_requests_total{service="ecs",operation="CreateCluster",status="200"}'] == 1
        assert series['berth_api_requests_total{service="ecs",operation="DescribeServices",status="400"}'] == 1
        assert series['berth_api_request_duration_seconds_count{service="ecs",operation="ListClusters"}'] == 3
        assert series['berth_api_request_duration_seconds_bucket{le="+Inf",service="ecs",operation="ListClusters"}'] == 3
        # CreateCluster and the agents' registrations were durable writes.
        assert series["berth_store_commit_duration_seconds_count"] >= 2
        assert series["berth_store_commit_transactions_sum"] >= 2
        # The region's service scheduler passes at least every second.
        passes = 'berth_reconciler_pass_duration_seconds_count{region="us-east-1",reconciler="service_scheduler"}'
        assert series[passes] >= 1
    finally:
        stop_process(agent)
    for _ in range(100):
        if scrape(berth).get(connected) == 0:
            break
        time.sleep(0.1)
    assert scrape(berth).get(connected) == 0
