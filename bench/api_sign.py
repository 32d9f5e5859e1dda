"""Signed requests for bench/api.sh, signed as botocore signs its own (SigV4Auth on an AWSRequest).

SigV4 lets a signed request be sent again for 15 minutes after its X-Amz-Date, so the bench signs
a set of distinct requests just before each phase and wrk replays them, rotating through the set.

  api_sign.py requests KIND URL OUT    writes OUT, a Lua file returning the raw HTTP/1.1 requests
                                       (for wrk, bench/api.lua), or with OUT ending in .raw each
                                       request as its byte count, a newline and its bytes (for
                                       bench/openloop.rs); KIND: register, describe, subnets
  api_sign.py seed URL                 registers SEED_FAMILIES x SEED_REVISIONS task definitions
                                       (the read set: 10,000 in 500 families), 16 at a time
  api_sign.py revisions URL            prints "SUM MIN" of the newest revision of every bench family

Keys come from BENCH_ACCESS_KEY_ID / BENCH_SECRET_ACCESS_KEY (the root keys the bench seeds in each
server's DATA_DIR/credentials); region us-east-1.
"""

import concurrent.futures
import http.client
import json
import os
import random
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
# The read set, registered once before the first phase: reads spread over all of it.
SEED_FAMILIES = 500
SEED_REVISIONS = 20


def credentials():
    return botocore.credentials.Credentials(
        os.environ["BENCH_ACCESS_KEY_ID"], os.environ["BENCH_SECRET_ACCESS_KEY"])


def signed_headers(url, service, body, headers):
    request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(credentials(), service, REGION).add_auth(request)
    return dict(request.headers.items())


def family(index):
    return f"bench-{index}"


def seed_family(index):
    return f"seed-{index}"


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
        # Reads spread over every one of the 10,000 seeded task definitions (500 families, 20
        # revisions each), in an order shuffled once (the same for every phase), so that
        # consecutive reads hit different families and revisions.
        keys = [f"{seed_family(f)}:{r}" for f in range(SEED_FAMILIES) for r in range(1, SEED_REVISIONS + 1)]
        random.Random(17).shuffle(keys)
        return [ecs_request("DescribeTaskDefinition", json.dumps({"taskDefinition": key}).encode())
                for key in keys]
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
    if path.endswith(".raw"):
        with open(path, "wb") as out:
            for item in items:
                out.write(b"%d\n" % len(item) + item)
        print(len(items))
        return
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


def seed(url):
    """Registers the read set: SEED_REVISIONS revisions of SEED_FAMILIES families, every request
    signed, 16 connections at a time; each family's revisions in order on one connection."""
    parts = urllib.parse.urlsplit(url)

    def register_family(f):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for r in range(1, SEED_REVISIONS + 1):
            body = json.dumps({"family": seed_family(f), "containerDefinitions": [{
                "name": "web", "image": f"berth-demo:seed{r}", "memory": 128,
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "SEED", "value": f"{f}-{r}"}], "essential": True}]},
                separators=(",", ":")).encode()
            service, body, headers = ecs_request("RegisterTaskDefinition", body)
            connection.request("POST", "/", body=body, headers=signed_headers(url, service, body, headers))
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"RegisterTaskDefinition {seed_family(f)}: {response.status} {payload[:300]!r}")
            revision = json.loads(payload)["taskDefinition"]["revision"]
            if revision != r:
                raise SystemExit(f"{seed_family(f)}: registered revision {revision}, expected {r} (seeded twice?)")
        connection.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(register_family, range(SEED_FAMILIES)))
    print(SEED_FAMILIES * SEED_REVISIONS)


def main(argv):
    if len(argv) == 5 and argv[1] == "requests":
        write_requests(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "seed":
        seed(argv[2])
    elif len(argv) == 3 and argv[1] == "revisions":
        newest_revisions(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
