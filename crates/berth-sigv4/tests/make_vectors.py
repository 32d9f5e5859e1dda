#!/usr/bin/env python3
"""Writes botocore_vectors.json: requests signed by botocore, recorded as they reach a server.

Run from this directory with boto3/botocore installed:  python3 make_vectors.py

Most vectors are captured off the wire: botocore (real boto3 clients, or botocore's own
SigV4Auth on an AWSRequest sent through botocore's URLLib3Session) sends each request to a
local socket that records the request line, headers and body byte for byte. A few cannot be
sent as-is over plain HTTP (repeated header names, which botocore's sending path folds into one;
UNSIGNED-PAYLOAD, which botocore only uses over HTTPS; presigned URLs, which a browser or curl
sends) and are recorded from the signed AWSRequest the way a client would send them.

The signing clock is pinned by replacing botocore.auth.get_current_datetime.
"""

import datetime
import json
import socket
import threading
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEFQaCXVzLWVhc3QtMSJHMEUCIQD/token+with/slashes=="
BASE = datetime.datetime(2026, 3, 14, 12, 34, 56, tzinfo=datetime.timezone.utc)


class Capture:
    """A one-request-at-a-time HTTP server that records raw requests."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(":", 1)) for line in lines[1:]]
                headers = [(name, value.strip(" \t")) for name, value in headers]
                length = next(
                    (int(v) for n, v in headers if n.lower() == "content-length"), 0
                )
                while len(body) < length:
                    body += conn.recv(65536)
                path, _, query = target.partition("?")
                self.requests.append(
                    {
                        "method": method,
                        "path": path,
                        "query": query,
                        "headers": [[n, v] for n, v in headers],
                        "body_hex": body.hex(),
                    }
                )
                reply = b'{"__type":"Stop","message":"captured"}'
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                    b"Content-Type: application/x-amz-json-1.1\r\n"
                    + f"Content-Length: {len(reply)}\r\n\r\n".encode()
                    + reply
                )

    def take(self):
        assert len(self.requests) == 1, self.requests
        return self.requests.pop()


def pinned(minutes):
    moment = BASE + datetime.timedelta(minutes=minutes)
    return moment, mock.patch.object(
        botocore.auth, "get_current_datetime", lambda: moment.replace(tzinfo=None)
    )


vectors = []


def record(name, wire, moment, region, service, token, source, note=""):
    vectors.append(
        {
            "name": name,
            "source": source,
            "note": note,
            **wire,
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
            "session_token": token,
            "region": region,
            "service": service,
            "signed_at": int(moment.timestamp()),
        }
    )


def client_call(capture, n, name, service, region, operation, params, token=None):
    moment, patch = pinned(n)
    session = boto3.Session(
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name=region,
    )
    client = session.client(
        service,
        endpoint_url=f"http://127.0.0.1:{capture.port}",
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            parameter_validation=False,
        ),
    )
    with patch:
        try:
            getattr(client, operation)(**params)
        except Exception:  # noqa: BLE001 - the capture server answers every call with an error
            pass
    signing_name = client.meta.service_model.signing_name
    record(name, capture.take(), moment, region, signing_name, token, "wire: boto3 client")


def raw_call(capture, n, name, service, region, method, url_tail, *, params=None,
             headers=(), body=b"", token=None):
    moment, patch = pinned(n)
    request = AWSRequest(
        method=method,
        url=f"http://127.0.0.1:{capture.port}{url_tail}",
        params=params or {},
        data=body,
    )
    for header, value in headers:
        request.headers[header] = value
    with patch:
        SigV4Auth(Credentials(KEY_ID, SECRET, token), service, region).add_auth(request)
    URLLib3Session().send(request.prepare())
    record(name, capture.take(), moment, region, service, token, "wire: botocore SigV4Auth")


def unsent(n, name, service, region, method, url, *, headers=(), body=b"", token=None,
           context=None, note=""):
    """Signs with SigV4Auth and records the request as a client sends it: every header in order,
    repeated names kept, Host from the URL."""
    moment, patch = pinned(n)
    request = AWSRequest(method=method, url=url, data=body)
    request.context.update(context or {})
    for header, value in headers:
        request.headers[header] = value
    with patch:
        SigV4Auth(Credentials(KEY_ID, SECRET, token), service, region).add_auth(request)
    parts = urlsplit(request.url)
    wire_headers = [["Host", parts.netloc]] + [[k, v] for k, v in request.headers.items()]
    record(
        name,
        {
            "method": method,
            "path": parts.path,
            "query": parts.query,
            "headers": wire_headers,
            "body_hex": body.hex(),
        },
        moment,
        region,
        service,
        token,
        "botocore SigV4Auth, as a client sends it",
        note,
    )


def presigned(n, name, service, region, url, *, expires=3600, token=None, params=None,
              client=None, operation=None):
    """A presigned GET URL, requested as curl does (Host, User-Agent, Accept)."""
    moment, patch = pinned(n)
    with patch:
        if client is not None:
            # As `aws eks get-token` does: a query-protocol operation is a POST, and its URL
            # is only usable with GET if signed for GET.
            url = client.generate_presigned_url(operation, Params=params or {},
                                                ExpiresIn=expires, HttpMethod="GET")
        else:
            request = AWSRequest(method="GET", url=url, params=params or {})
            SigV4QueryAuth(Credentials(KEY_ID, SECRET, token), service, region,
                           expires=expires).add_auth(request)
            url = request.url
    parts = urlsplit(url)
    record(
        name,
        {
            "method": "GET",
            "path": parts.path,
            "query": parts.query,
            "headers": [
                ["Host", parts.netloc],
                ["User-Agent", "curl/8.5.0"],
                ["Accept", "*/*"],
            ],
            "body_hex": "",
        },
        moment,
        region,
        service,
        token,
        "botocore presigned URL, requested as curl does",
    )


def main():
    capture = Capture()
    n = iter(range(1000))

    # Real clients, every protocol family.
    client_call(capture, next(n), "ecs-list-clusters", "ecs", "us-east-1", "list_clusters", {})
    client_call(capture, next(n), "ecs-describe-clusters-unicode", "ecs", "eu-west-1",
                "describe_clusters", {"clusters": ["a b", "ünï©ødé", "x&y=z"]})
    client_call(capture, next(n), "ecs-run-task-session-token", "ecs", "ap-southeast-2",
                "run_task", {"cluster": "default", "taskDefinition": "web:3", "count": 2,
                             "overrides": {"containerOverrides": [
                                 {"name": "app", "command": ["sh", "-c", "echo  'hi'"]}]}},
                token=TOKEN)
    client_call(capture, next(n), "logs-put-log-events", "logs", "us-west-2",
                "put_log_events", {"logGroupName": "/ecs/web", "logStreamName": "a/b/c",
                                   "logEvents": [{"timestamp": 1, "message": "x\ty\n"}]})
    client_call(capture, next(n), "sts-get-caller-identity", "sts", "us-east-1",
                "get_caller_identity", {})
    client_call(capture, next(n), "sts-assume-role-session-token", "sts", "eu-central-1",
                "assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/a+b=c,d@e",
                                "RoleSessionName": "s p a c e", "DurationSeconds": 900},
                token=TOKEN)
    client_call(capture, next(n), "iam-list-users", "iam", "us-east-1", "list_users",
                {"PathPrefix": "/division_abc/subdivision_xyz/", "MaxItems": 5})
    client_call(capture, next(n), "elbv2-describe-load-balancers", "elbv2", "sa-east-1",
                "describe_load_balancers", {"Names": ["lb-1", "lb 2"]})
    client_call(capture, next(n), "ec2-describe-instances", "ec2", "us-east-1",
                "describe_instances", {"Filters": [{"Name": "tag:Name",
                                                    "Values": ["web*", "ä ö"]}]})
    client_call(capture, next(n), "ec2-run-instances-session-token", "ec2", "ca-central-1",
                "run_instances", {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1,
                                  "UserData": "#!/bin/sh\necho ~!*'()"}, token=TOKEN)
    client_call(capture, next(n), "cloudwatch-cbor-list-metrics", "cloudwatch", "us-east-1",
                "list_metrics", {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization"})
    client_call(capture, next(n), "cloudwatch-cbor-put-metric-data", "cloudwatch",
                "eu-west-3", "put_metric_data", {"Namespace": "Berth/Test", "MetricData": [
                    {"MetricName": "m", "Value": 1.5, "Unit": "Count"}]}, token=TOKEN)
    client_call(capture, next(n), "lambda-rest-json-path-and-query", "lambda", "us-east-1",
                "list_versions_by_function", {"FunctionName": "my func:ü/x",
                                              "Marker": "a b+c/d~e*f", "MaxItems": 7})
    client_call(capture, next(n), "lambda-rest-json-post", "lambda", "us-west-1",
                "invoke", {"FunctionName": "fn", "Payload": b'{"k": "v"}',
                           "Qualifier": "$LATEST"})

    # botocore's signer on hand-built requests, sent through botocore's HTTP session.
    raw_call(capture, next(n), "raw-get-unsorted-repeated-params", "ecs", "us-east-1", "GET",
             "/", params=[("b", "2"), ("a", "x y"), ("a", "1"), ("A", "0"),
                          ("c", "~!*()'+&="), ("é", "€")])
    raw_call(capture, next(n), "raw-get-query-in-url", "sts", "us-east-2", "GET",
             "/?z=1&a=%2F&a=%20&empty=&flag&Action=GetCallerIdentity&Version=2011-06-15")
    raw_call(capture, next(n), "raw-encoded-path", "ecs", "eu-north-1", "GET",
             "/a%20b/%C3%A9t%C3%A9/~tilde/%2F/x%3Dy")
    raw_call(capture, next(n), "raw-dot-and-double-slash-path", "ecs", "us-east-1", "GET",
             "/a/./b/../c//d/")
    raw_call(capture, next(n), "raw-header-spaces", "ecs", "us-east-1", "POST", "/",
             headers=[("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
                      ("Content-Type", "application/x-amz-json-1.1"),
                      ("X-Custom", "  lots   of    spaces  here  "),
                      ("X-Tab", "a\t\tb")],
             body=b"{}")
    raw_call(capture, next(n), "raw-form-post", "iam", "us-east-1", "POST", "/",
             headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
             body=b"Action=ListRoles&Version=2010-05-08&PathPrefix=%2Fa%20b%2F")
    raw_call(capture, next(n), "raw-date-header", "sts", "us-east-1", "POST", "/",
             headers=[("Date", "Mon, 01 Jan 2001 00:00:00 GMT"),
                      ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
             body=b"Action=GetCallerIdentity&Version=2011-06-15")
    raw_call(capture, next(n), "raw-binary-body-token", "monitoring", "ap-northeast-1",
             "POST", "/service/GraniteServiceVersion20100801/operation/GetMetricData",
             headers=[("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor"),
                      ("Accept", "application/cbor")],
             body=bytes(range(256)), token=TOKEN)

    # Things botocore signs but cannot send as-is over plain HTTP.
    unsent(next(n), "repeated-header-names", "ecs", "us-east-1", "POST",
           "https://ecs.us-east-1.amazonaws.com/",
           headers=[("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
                    ("X-Dup", "first"), ("x-dup", "  second   value "), ("X-DUP", "third")],
           body=b"{}", note="X-Dup three times")
    unsent(next(n), "unsigned-payload", "ecs", "eu-west-1", "POST",
           "https://ecs.eu-west-1.amazonaws.com/",
           headers=[("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
                    ("Content-Type", "application/x-amz-json-1.1")],
           body=b'{"maxResults": 1}', context={"payload_signing_enabled": False})
    unsent(next(n), "unsigned-payload-token", "sts", "us-east-1", "POST",
           "https://sts.amazonaws.com/",
           headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
           body=b"Action=GetCallerIdentity&Version=2011-06-15", token=TOKEN,
           context={"payload_signing_enabled": False})
    unsent(next(n), "host-with-port", "ecs", "us-east-1", "POST",
           "https://localhost:8443/",
           headers=[("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")],
           body=b"{}")

    # Presigned URLs.
    sts = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        region_name="us-east-1").client("sts")
    presigned(next(n), "presigned-sts-get-caller-identity", "sts", "us-east-1", None,
              client=sts, operation="get_caller_identity", expires=900)
    sts_token = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                              aws_session_token=TOKEN, region_name="eu-west-1").client(
        "sts", endpoint_url="https://sts.eu-west-1.amazonaws.com")
    presigned(next(n), "presigned-sts-session-token", "sts", "eu-west-1", None,
              client=sts_token, operation="get_caller_identity", expires=60, token=TOKEN)
    ec2 = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        region_name="us-west-2").client("ec2")
    presigned(next(n), "presigned-ec2-describe-regions", "ec2", "us-west-2", None,
              client=ec2, operation="describe_regions",
              params={"RegionNames": ["us-west-2", "eu-west-1"]}, expires=3600)
    presigned(next(n), "presigned-query-auth-special-chars", "ecs", "us-east-1",
              "https://ecs.us-east-1.amazonaws.com/a%20b/?z=last&a=first%2Fx&m=%E2%82%AC",
              expires=604800)

    out = Path(__file__).with_name("botocore_vectors.json")
    document = {
        "generator": "make_vectors.py",
        "botocore": botocore.__version__,
        "boto3": boto3.__version__,
        "vectors": vectors,
    }
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(vectors)} vectors written to {out}")


if __name__ == "__main__":
    main()
