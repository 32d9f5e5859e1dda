"""Signed requests for bench/api.sh, signed as botocore signs its own (SigV4Auth on an AWSRequest).

SigV4 lets a signed request be sent again for 15 minutes after its X-Amz-Date, so the bench signs
a set of distinct requests just before each phase and wrk replays them, rotating through the set.

  api_sign.py requests KIND URL OUT    writes OUT, a Lua file returning the raw HTTP/1.1 requests
                                       (KIND: register, describe[:REVISIONS], subnets)
  api_sign.py revisions URL            prints "SUM MIN" of the newest revision of every bench family

Keys come from BENCH_ACCESS_KEY_ID / BENCH_SECRET_ACCESS_KEY (the root keys the bench seeds in each
server's DATA_DIR/credentials); region us-east-1.
"""

import http.client
import json
import os
import sys
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

REGION = "us-east-1"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
ECS_CONTENT_TYPE = "application/x-amz-json-1.1"
EC2_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
# Task definition families the writes spread over, and the body variants per family.
FAMILIES = 64
VARIANTS = 8
SUBNETS_REQUESTS = 64


def credentials():
    return botocore.credentials.Credentials(
        os.environ["BENCH_ACCESS_KEY_ID"], os.environ["BENCH_SECRET_ACCESS_KEY"])


def signed_headers(url, service, body, headers):
    request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(credentials(), service, REGION).add_auth(request)
    return dict(request.headers.items())


def family(index):
    return f"bench-{index}"


def register_body(index):
    """Request `index`: family index % FAMILIES, body variant index // FAMILIES."""
    variant = index // FAMILIES
    return json.dumps({
        "family": family(index % FAMILIES),
        "containerDefinitions": [{
            "name": "web",
            "image": f"berth-demo:v{variant}",
            "memory": 128 + 64 * (variant % 4),
            "portMappings": [{"containerPort": 8080 + variant}],
            "environment": [{"name": "BENCH_VARIANT", "value": str(variant)}],
            "essential": True,
        }],
    }, separators=(",", ":")).encode()


def ecs_request(operation, body):
    return "ecs", body, {"Content-Type": ECS_CONTENT_TYPE, "X-Amz-Target": f"{ECS_TARGET}.{operation}"}


def requests(kind):
    """(service, body, headers) for every request of a phase."""
    name, _, argument = kind.partition(":")
    if name == "register":
        return [ecs_request("RegisterTaskDefinition", register_body(i)) for i in range(FAMILIES * VARIANTS)]
    if name == "describe":
        # Reads spread over the first REVISIONS revisions of every family, interleaved by family.
        revisions = int(argument or "1")
        return [ecs_request("DescribeTaskDefinition",
                            json.dumps({"taskDefinition": f"{family(f)}:{r}"}).encode())
                for r in range(1, revisions + 1) for f in range(FAMILIES)]
    if name == "subnets":
        body = b"Action=DescribeSubnets&Version=2016-11-15"
        return [("ec2", body, {"Content-Type": EC2_CONTENT_TYPE})] * SUBNETS_REQUESTS
    raise SystemExit(f"api_sign.py: unknown request kind {kind!r}")


def raw_request(url, service, body, headers):
    """The exact bytes wrk sends: request line, signed headers (Host included), body."""
    host = urllib.parse.urlsplit(url).netloc
    headers = signed_headers(url, service, body, dict(headers, Host=host))
    lines = ["POST / HTTP/1.1"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def lua_string(data):
    out = ['"']
    for byte in data:
        char = chr(byte)
        if 32 <= byte < 127 and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    out.append('"')
    return "".join(out)


def write_requests(kind, url, path):
    items = [raw_request(url, *request) for request in requests(kind)]
    with open(path, "w") as out:
        out.write("return {\n")
        for item in items:
            out.write(lua_string(item) + ",\n")
        out.write("}\n")
    print(len(items))


def newest_revisions(url):
    """The newest revision of each bench family, one signed DescribeTaskDefinition each."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    newest = []
    for f in range(FAMILIES):
        service, body, headers = ecs_request(
            "DescribeTaskDefinition", json.dumps({"taskDefinition": family(f)}).encode())
        connection.request("POST", "/", body=body, headers=signed_headers(url, service, body, headers))
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SystemExit(f"DescribeTaskDefinition {family(f)}: {response.status} {payload[:300]!r}")
        newest.append(json.loads(payload)["taskDefinition"]["revision"])
    connection.close()
    print(sum(newest), min(newest))


def main(argv):
    if len(argv) == 5 and argv[1] == "requests":
        write_requests(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "revisions":
        newest_revisions(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
