"""A property/fuzz driver over every ECS action of botocore's model, against a running Berth.

Each call is an operation of the model with an input generated from the operation's input shape:
valid (required members present, enums, bounds, and the names of resources that exist, so
calls reach deep) or made invalid in one way: a malformed body, a member of the wrong type, an
unknown member, a missing required member, an ARN of another region or account, a huge string,
a negative or oversized number, an empty list, a null, an unknown enum value, odd characters.
Every call is signed (SigV4, in process) and sent on one kept-alive connection.

Properties checked on every call:
  - the server never answers 5xx;
  - an error answer is AWS JSON (`__type`, `message`) with an error code ECS's model knows
    (or a protocol-level one), and malformed bodies and wrong member types are
    SerializationException;
  - a failed call changes nothing. Two ways, both exact:
      * quiet phase (the first --quiet-calls calls, before any agent or service exists, so no
        background writer runs; CreateService is left out of it): the store revision
        (`berth_store_revision` on /metrics) is read before and after every failed call and
        must not move;
      * main phase (simulated agents and services running, so reconcilers and agents write
        beside the calls): the server counts the calls whose own transactions committed writes,
        by operation and outcome (`berth_api_calls_with_writes_total{outcome="error"}` on
        /metrics); it is read every --check-every calls and must not move. A window where it
        moved is reported with its failed calls of that operation.
    Both observations are checked to be live: the revision must move across some successful
    call of the quiet phase, and the count of successful calls that wrote must grow in the main
    phase; otherwise the run fails as unable to see a change.

Randomness is seeded (--seed); call i of a run is generated from the seed and i over the same
history, so a failure replays with the same --seed and --calls against a fresh server.

  api_fuzz.py --url URL --berth BINARY --credentials FILE [--calls N] [--seed S] ...

The agents (`berth agent --simulate`) are started by the driver with BINARY, signing with the
root keys in FILE (the AWS shared credentials format `berth server` writes). The last line is
  api_fuzz_calls: N (5xx: A, failed calls that changed state: B, calls/s: R)
and the exit status is non-zero when A or B or the count of wrong error answers is not zero.
"""

import argparse
import base64
import configparser
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
REGION = "us-east-1"
ACCOUNT = "000000000000"
CONTENT_TYPE = "application/x-amz-json-1.1"
# Error codes the protocol itself answers, beyond the model's exceptions.
PROTOCOL_ERRORS = {"SerializationException", "UnknownOperationException", "RequestEntityTooLargeException"}
ARN_RE = re.compile(rb'arn:aws:ecs:us-east-1:000000000000:[a-z-]+/[A-Za-z0-9_./:+=@-]+')
CLUSTERS = ["fz-0", "fz-1", "fz-2", "default"]
FAMILIES = ["fz-web", "fz-worker", "fz-batch"]
SERVICES = ["fz-svc-0", "fz-svc-1", "fz-svc-2", "fz-svc-3"]
MUTATIONS = ["malformed", "wrong_type", "unknown_member", "missing_required", "foreign_arn", "huge_string",
             "bad_number", "empty_list", "null", "bad_enum", "odd_string"]
# Mutations after which the answer must be an error of this code.
MUST_FAIL_WITH = {"malformed": "SerializationException", "wrong_type": "SerializationException"}
QUIET_PHASE_SKIPS = {"CreateService"}
# Actions that take resources away are drawn less often, so that the rest keep reaching deep.
RARE = {"DeleteCluster": 0.2, "DeregisterContainerInstance": 0.05, "DeleteService": 0.3,
        "DeregisterTaskDefinition": 0.3, "DeleteTaskDefinitions": 0.3}
# Members a valid input always carries where its structure has them (they make a call succeed).
ALWAYS = {"desiredCount", "name", "image", "memory", "value"}


class Connection:
    """One kept-alive, signed HTTP/1.1 connection to the server."""

    def __init__(self, url, access_key, secret_key):
        self.host, self.port = url.split("//", 1)[1].rstrip("/").split(":")
        self.url = url.rstrip("/")
        self.credentials = botocore.credentials.Credentials(access_key, secret_key)
        self.signer = botocore.auth.SigV4Auth(self.credentials, "ecs", REGION)
        self.http = None

    def _send(self, method, path, body, headers):
        if self.http is None:
            self.http = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        return response.status, response.read()

    def request(self, method, path, body=b"", headers=None):
        # A kept-alive connection the server closed while idle is opened again once.
        for attempt in (0, 1):
            try:
                return self._send(method, path, body, headers or {})
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.http.close()
                self.http = None
                if attempt:
                    raise

    def call(self, operation, body):
        request = botocore.awsrequest.AWSRequest(method="POST", url=self.url + "/", data=body, headers={
            "X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": CONTENT_TYPE})
        self.signer.add_auth(request)
        return self.request("POST", "/", body, dict(request.headers.items()))

    def ecs(self, operation, **members):
        status, payload = self.call(operation, json.dumps(members).encode())
        parsed = json.loads(payload) if payload else {}
        if status != 200:
            raise RuntimeError(f"{operation} {members}: {status} {parsed}")
        return parsed

    def metrics(self):
        status, payload = self.request("GET", "/metrics")
        assert status == 200, status
        revision, failed_writes, ok_writes = None, {}, 0
        for line in payload.decode().splitlines():
            if line.startswith("berth_store_revision "):
                revision = int(float(line.split()[1]))
            elif line.startswith("berth_api_calls_with_writes_total{"):
                labels, value = line.rsplit(" ", 1)
                if 'outcome="ok"' in labels:
                    ok_writes += int(float(value))
                    continue
                operation = re.search(r'operation="([^"]+)"', labels).group(1)
                failed_writes[operation] = failed_writes.get(operation, 0) + int(float(value))
        assert revision is not None, "no berth_store_revision on /metrics"
        return revision, failed_writes, ok_writes


class Pools:
    """Names and ARNs of resources that exist (or existed), taken from every answer."""

    LIMIT = 64

    def __init__(self):
        self.arns = {}

    def learn(self, payload):
        for arn in ARN_RE.findall(payload):
            arn = arn.decode()
            kind = arn.split(":", 5)[5].split("/", 1)[0]
            found = self.arns.setdefault(kind, [])
            if arn not in found:
                if len(found) >= self.LIMIT:
                    found.pop(0)
                found.append(arn)

    def pick(self, rng, kind, fallback):
        found = self.arns.get(kind)
        if found and rng.random() < 0.8:
            return rng.choice(found)
        return fallback


class Generator:
    def __init__(self, model, pools):
        self.model = model
        self.pools = pools

    # Values for members whose name says what they refer to, so calls reach existing resources.
    def special(self, rng, name, shape):
        if shape.type_name != "string" or shape.enum:
            if shape.type_name == "integer":
                bounded = {"count": (1, 3), "desiredCount": (0, 3), "maxResults": (1, 100),
                           "memory": (16, 256), "memoryReservation": (16, 128), "cpu": (0, 256),
                           "expiresInMinutes": (1, 2880)}
                if name in bounded:
                    return rng.randint(*bounded[name])
            return None
        p = self.pools
        if name in ("cluster", "clusterName", "clusters"):
            cluster = "fz-0" if rng.random() < 0.5 else rng.choice(CLUSTERS)
            return p.pick(rng, "cluster", cluster) if rng.random() < 0.3 else cluster
        if name in ("service", "serviceName", "services"):
            return p.pick(rng, "service", rng.choice(SERVICES)) if rng.random() < 0.3 else rng.choice(SERVICES)
        if name in ("taskDefinition", "taskDefinitions"):
            if rng.random() < 0.5:
                return rng.choice(FAMILIES)
            return p.pick(rng, "task-definition", rng.choice(FAMILIES))
        if name in ("family", "familyPrefix"):
            return rng.choice(FAMILIES)
        if name in ("task", "tasks"):
            return p.pick(rng, "task", "0123456789abcdef0123456789abcdef")
        if name in ("containerInstance", "containerInstances", "targetId"):
            return p.pick(rng, "container-instance", "0123456789abcdef0123456789abcdef")
        if name == "resourceArn":
            kind = rng.choice(["cluster", "service", "task", "task-definition", "container-instance"])
            return p.pick(rng, kind, f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{rng.choice(CLUSTERS)}")
        if name in ("serviceDeploymentArn", "serviceDeploymentArns"):
            return p.pick(rng, "service-deployment", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/fz-0/x/y")
        if name in ("serviceRevisionArns",):
            return p.pick(rng, "service-revision", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/fz-0/x/1")
        if name == "image":
            return "berth-demo:latest"
        if name == "launchType":
            return "EC2" if rng.random() < 0.9 else rng.choice(shape.enum or ["FARGATE"])
        if name in ("nextToken",):
            return base64.b64encode(rng.randbytes(rng.randint(1, 40))).decode()
        if name in ("startedBy",):
            return "fz"
        if name in ("memory", "cpu"):
            return rng.choice(["256", "512", "1024"])
        if name == "value":
            return rng.choice(["enabled", "disabled", "enhanced", "fz"])
        return None

    def value(self, rng, shape, name, depth, drop_required=None):
        special = self.special(rng, name, shape)
        if special is not None:
            return special
        kind = shape.type_name
        meta = shape.metadata
        if kind == "structure":
            out = {}
            # About one optional member per structure, so that valid calls can succeed.
            optionals = len(shape.members) - len(shape.required_members)
            optional = min(0.5, 1.5 / max(optionals, 1)) if depth < 4 else 0.0
            for member, member_shape in shape.members.items():
                required = member in shape.required_members
                if required and drop_required is not None and drop_required[0] == depth and not drop_required[1]:
                    drop_required[1] = member
                    continue
                if required or rng.random() < optional or (member in ALWAYS and drop_required is None):
                    out[member] = self.value(rng, member_shape, member, depth + 1, drop_required)
            return out
        if kind == "list":
            low = meta.get("min", 0)
            count = rng.randint(max(low, 1 if depth < 3 else 0), max(low, min(meta.get("max", 3), 3)))
            # The list's member name says what the items are (clusters, tasks, services, …).
            return [self.value(rng, shape.member, name, depth + 1) for _ in range(count)]
        if kind == "map":
            return {self.word(rng, 1, 12): self.value(rng, shape.value, "value", depth + 1)
                    for _ in range(rng.randint(0, 2))}
        if kind == "string":
            if shape.enum:
                return rng.choice(shape.enum)
            return self.word(rng, meta.get("min", 1), min(meta.get("max", 24), 24))
        if kind in ("integer", "long"):
            return rng.randint(max(meta.get("min", 0), 0), min(meta.get("max", 100), 100))
        if kind == "boolean":
            return rng.random() < 0.5
        if kind in ("double", "float"):
            return round(rng.uniform(0, 100), 3)
        if kind == "timestamp":
            return round(time.time() - rng.uniform(-3600, 86400), 3)
        if kind == "blob":
            return base64.b64encode(rng.randbytes(8)).decode()
        raise ValueError(f"shape type {kind}")

    @staticmethod
    def word(rng, low, high):
        low = max(low, 1)
        length = rng.randint(low, max(low, high))
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(length))

    def input(self, rng, operation, mutation):
        shape = self.model.operation_model(operation).input_shape
        if shape is None:
            return {}
        drop = [0, None] if mutation == "missing_required" else None
        return self.value(rng, shape, "", 0, drop)


def leaves(value, path=()):
    """Every (path, value) in a JSON value, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, path + (index,))


def replace(document, path, new):
    if not path:
        return new
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return document


def wrong_type(rng, value):
    if isinstance(value, bool):
        return rng.choice(["true", 1, [], {}])
    if isinstance(value, (int, float)):
        return rng.choice([str(value), [value], {"v": value}, True])
    if isinstance(value, str):
        return rng.choice([7, 1.5, True, [value], {"s": value}])
    if isinstance(value, list):
        return rng.choice(["list", 3, {"0": value[0] if value else 1}])
    return rng.choice(["struct", 3, [value], True])


def mutate(rng, document, mutation):
    """The document made invalid in one way; bytes for malformed bodies. None when the mutation
    has nothing to act on in this document."""
    nodes = list(leaves(document))[1:]
    if mutation == "malformed":
        text = json.dumps(document).encode()
        return rng.choice([
            text[:max(1, len(text) // 2)], b"{", b"[]", b"null", b"1", b'"text"', b"\xff\xfe{}",
            text + b"}", text + b"garbage", b'{"a":', b"[" * 5000, b'{"x":' * 300 + b"1" + b"}" * 300,
            text.replace(b"{", b"{=", 1), b"\xef\xbb\xbf" + text, b'{"a": NaN}', b"{'single': 1}",
            b'{"' + bytes([rng.randint(0, 31)]) + b'": 1}',
        ])
    if mutation == "unknown_member":
        structs = [path for path, value in leaves(document) if isinstance(value, dict)]
        path = rng.choice(structs)
        target = document
        for step in path:
            target = target[step]
        target[rng.choice(["fuzzUnknown", "Cluster", "x" * 64, "__type", "clusterARN"])] = rng.choice([1, "v", [], {}, None])
        return document
    if mutation == "missing_required":
        return document  # generated without one required member (Generator.input)
    candidates = {
        "wrong_type": [n for n in nodes if not isinstance(n[0][-1], int)],
        "foreign_arn": [n for n in nodes if isinstance(n[1], str)],
        "huge_string": [n for n in nodes if isinstance(n[1], str)],
        "bad_number": [n for n in nodes if isinstance(n[1], (int, float)) and not isinstance(n[1], bool)],
        "empty_list": [n for n in nodes if isinstance(n[1], list)],
        "null": [n for n in nodes if not isinstance(n[0][-1], int)],
        "bad_enum": [n for n in nodes if isinstance(n[1], str) and n[1].isupper()],
        "odd_string": [n for n in nodes if isinstance(n[1], str)],
    }[mutation]
    if not candidates:
        return None
    path, value = rng.choice(candidates)
    if mutation == "wrong_type":
        return replace(document, path, wrong_type(rng, value))
    if mutation == "foreign_arn":
        if value.startswith("arn:"):
            parts = value.split(":", 5)
            if rng.random() < 0.5:
                parts[3] = rng.choice(["eu-west-1", "us-west-2", "ap-south-1"])
            else:
                parts[4] = "123456789012"
            new = ":".join(parts)
        else:
            new = f"arn:aws:ecs:eu-west-1:{rng.choice([ACCOUNT, '123456789012'])}:cluster/{value}"
        return replace(document, path, new)
    if mutation == "huge_string":
        return replace(document, path, rng.choice("ab:/") * rng.choice([257, 4097, 70_000, 300_000]))
    if mutation == "bad_number":
        return replace(document, path, rng.choice([-1, -2**31, 2**31 - 1, 2**31, 2**63, -2**63 - 1, 10**30, 1.5,
                                                   -0.0, 1e308]))
    if mutation == "empty_list":
        return replace(document, path, [])
    if mutation == "null":
        return replace(document, path, None)
    if mutation == "bad_enum":
        return replace(document, path, value + "_NOPE")
    if mutation == "odd_string":
        return replace(document, path, rng.choice(["", " ", "\u0000", "a\nb", "..", "/", "arn:", "arn:aws:ecs:::",
                                                   "\u202e\U0001f600", "%s%n", "a" * 256, "*", "fz-0/x",
                                                   "arn:aws:ecs:us-east-1:000000000000:cluster/"]))
    raise ValueError(mutation)


class Driver:
    def __init__(self, args):
        self.args = args
        self.model = botocore.session.get_session().get_service_model("ecs")
        self.errors = PROTOCOL_ERRORS | {e.name for op in self.model.operation_names
                                         for e in self.model.operation_model(op).error_shapes}
        keys = configparser.ConfigParser()
        keys.read(args.credentials)
        self.access_key = keys["default"]["aws_access_key_id"]
        self.secret_key = keys["default"]["aws_secret_access_key"]
        self.connection = Connection(args.url, self.access_key, self.secret_key)
        self.pools = Pools()
        self.generator = Generator(self.model, self.pools)
        self.agents = []
        self.calls = 0
        self.server_errors = []
        self.changed_state = []
        self.wrong_answers = []
        self.window = []
        self.seen_revision_move = False
        self.ok_writes = 0
        self.blind = []
        self.outcomes = {}

    # -- setup -----------------------------------------------------------------------------
    def implemented(self):
        """Operations that do not answer UnsupportedFeatureException to an empty body."""
        found = []
        for operation in self.model.operation_names:
            status, payload = self.connection.call(operation, b"{}")
            if status >= 500:
                self.server_errors.append(("probe", operation, b"{}", status, payload[:300]))
            if b"UnsupportedFeatureException" not in payload:
                found.append(operation)
        return found

    def seed_quiet(self):
        for cluster in CLUSTERS[:3]:
            self.pools.learn(json.dumps(self.connection.ecs("CreateCluster", clusterName=cluster)).encode())
        for family in FAMILIES:
            for memory in (32, 48):
                answer = self.connection.ecs("RegisterTaskDefinition", family=family, containerDefinitions=[
                    {"name": "app", "image": "berth-demo:latest", "memory": memory, "essential": True,
                     "portMappings": [{"containerPort": 8080}]}])
                self.pools.learn(json.dumps(answer).encode())

    def seed_busy(self):
        self.seed_quiet()  # again: the quiet phase may have deleted clusters or deregistered revisions
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = self.args.credentials
        for cluster in CLUSTERS[:2]:
            self.agents.append(subprocess.Popen(
                [self.args.berth, "agent", "--server", self.args.url, "--cluster", cluster, "--region", REGION,
                 "--simulate", str(self.args.instances), "--simulated-start-ms", "20", "--cpu", "4096",
                 "--memory", "16384", "--data-dir", tempfile.mkdtemp(prefix="berth-fuzz-agent-")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        deadline = time.monotonic() + 60
        for cluster in CLUSTERS[:2]:
            while len(self.connection.ecs("ListContainerInstances", cluster=cluster)["containerInstanceArns"]) \
                    < self.args.instances:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the simulated instances of {cluster} did not register within 60 s")
                time.sleep(0.1)
            self.pools.learn(json.dumps(self.connection.ecs("ListContainerInstances", cluster=cluster)).encode())
        for index, service in enumerate(SERVICES[:2]):
            answer = self.connection.ecs("CreateService", cluster="fz-0", serviceName=service,
                                         taskDefinition=FAMILIES[index], desiredCount=2)
            self.pools.learn(json.dumps(answer).encode())
        answer = self.connection.ecs("RunTask", cluster="fz-1", taskDefinition=FAMILIES[2], count=2, startedBy="fz")
        self.pools.learn(json.dumps(answer).encode())

    def stop_agents(self):
        for agent in self.agents:
            agent.terminate()
        for agent in self.agents:
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()

    # -- calls -------------------------------------------------------------------------------
    def one_call(self, index, operations, quiet):
        rng = random.Random(f"{self.args.seed}:{index}")
        operation = rng.choice(operations)
        if operation in RARE and rng.random() > RARE[operation]:
            operation = rng.choice(operations)
        if quiet and operation in QUIET_PHASE_SKIPS:
            operation = "DescribeClusters"
        mutation = None
        if quiet or rng.random() < self.args.invalid_share:
            mutation = rng.choice(MUTATIONS)
        document = self.generator.input(rng, operation, mutation)
        body = document
        if mutation:
            body = mutate(rng, document, mutation)
            if body is None:
                mutation = None
                body = document
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        before = self.connection.metrics()[0] if quiet else None
        status, answer = self.connection.call(operation, payload)
        self.calls += 1
        self.outcomes.setdefault((operation, mutation is None), []).append((status, answer[:160]))
        if status == 200:
            self.pools.learn(answer)
        record = (index, operation, mutation, payload, status, answer)
        if self.args.stats and mutation == "foreign_arn" and status == 200:
            print(f"stats: foreign ARN answered 200: {operation} {payload[:300]!r} -> {answer[:200]!r}",
                  file=sys.stderr)
        if status >= 500:
            self.server_errors.append(record)
            return
        after = self.connection.metrics()[0] if quiet else None
        if status == 200:
            if quiet and after != before:
                self.seen_revision_move = True
            return
        self.check_error(record)
        if quiet:
            if after != before:
                self.changed_state.append(record + (f"store revision {before} -> {after}",))
        else:
            self.window.append(record)

    def check_error(self, record):
        index, operation, mutation, payload, status, answer = record
        try:
            error = json.loads(answer)
            code = error["__type"]
            assert isinstance(error.get("message"), str)
        except (ValueError, KeyError, AssertionError, TypeError):
            self.wrong_answers.append(record + ("not an AWS JSON error",))
            return
        if code not in self.errors:
            self.wrong_answers.append(record + (f"{code} is not an ECS error",))
        elif mutation in MUST_FAIL_WITH and code != MUST_FAIL_WITH[mutation]:
            self.wrong_answers.append(record + (f"{code}, expected {MUST_FAIL_WITH[mutation]}",))

    def check_window(self, counted):
        _, failed_writes, self.ok_writes = self.connection.metrics()
        for operation, count in failed_writes.items():
            moved = count - counted.get(operation, 0)
            if moved > 0:
                suspects = [r for r in self.window if r[1] == operation]
                self.changed_state.extend(r + (f"{moved} failed {operation} call(s) in this window wrote",)
                                          for r in suspects[:moved] or [(None, operation, None, b"", 0, b"")])
        self.window = []
        return failed_writes

    def run(self):
        args = self.args
        operations = self.implemented()
        unimplemented = sorted(set(self.model.operation_names) - set(operations))
        print(f"seed {args.seed}: {len(operations)} implemented ECS actions of {len(self.model.operation_names)} "
              f"(UnsupportedFeatureException: {', '.join(unimplemented) or 'none'})", flush=True)
        self.seed_quiet()
        started = time.monotonic()
        quiet_calls = min(args.quiet_calls, args.calls)
        for index in range(quiet_calls):
            self.one_call(index, operations, quiet=True)
        try:
            self.seed_busy()
            _, counted, ok_writes_before = self.connection.metrics()
            for index in range(quiet_calls, args.calls):
                self.one_call(index, operations, quiet=False)
                if (index + 1) % args.check_every == 0:
                    counted = self.check_window(counted)
            self.check_window(counted)
            if not self.seen_revision_move and quiet_calls:
                self.blind.append("the store revision never moved across a successful call of the quiet phase")
            if self.ok_writes == ok_writes_before and args.calls > quiet_calls:
                self.blind.append("the server counted no successful call that wrote in the main phase")
        finally:
            self.stop_agents()
        return time.monotonic() - started

    def report(self, elapsed):
        def show(kind, records):
            for record in records[:20]:
                index, operation, mutation, payload, status, answer = record[:6]
                note = record[6] if len(record) > 6 else ""
                print(f"{kind}: call {index} {operation} mutation={mutation} -> {status} {answer[:300]!r} {note}\n"
                      f"    body: {payload[:400]!r}", file=sys.stderr)
            if records:
                print(f"{kind}: {len(records)} in all; replay with --seed {self.args.seed} --calls {self.args.calls}",
                      file=sys.stderr)
        if self.args.stats:
            for (operation, valid), statuses in sorted(self.outcomes.items()):
                ok = sum(1 for s, _ in statuses if s == 200)
                errors = [a for s, a in statuses if s != 200]
                common = max(set(errors), key=errors.count) if errors else b""
                print(f"stats: {operation} {'valid' if valid else 'invalid'}: {ok}/{len(statuses)} answered 200; "
                      f"most common error: {common!r}", file=sys.stderr)
        show("5xx", self.server_errors)
        show("failed call changed state", self.changed_state)
        show("wrong error answer", self.wrong_answers)
        print(f"method: calls {self.args.quiet_calls} first with no background writer, store revision read around "
              f"each failed call; then with {2 * self.args.instances} simulated instances and services, the server's "
              f"count of failed calls that committed writes read every {self.args.check_every} calls")
        print(f"wrong error answers: {len(self.wrong_answers)}")
        for reason in self.blind:
            print(f"blind: {reason}", file=sys.stderr)
        rate = self.calls / elapsed if elapsed else 0.0
        print(f"api_fuzz_calls: {self.calls} (5xx: {len(self.server_errors)}, failed calls that changed state: "
              f"{len(self.changed_state)}, calls/s: {rate:.0f})", flush=True)
        return not (self.server_errors or self.changed_state or self.wrong_answers or self.blind)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--berth", required=True, help="the berth binary, to start simulated agents")
    parser.add_argument("--credentials", required=True, help="the root keys, AWS shared credentials format")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet-calls", type=int, default=500)
    parser.add_argument("--check-every", type=int, default=20)
    parser.add_argument("--invalid-share", type=float, default=0.5)
    parser.add_argument("--stats", action="store_true", help="print how many calls of each action succeeded")
    parser.add_argument("--instances", type=int, default=4, help="simulated instances per agent (two agents)")
    args = parser.parse_args(argv)
    driver = Driver(args)
    elapsed = driver.run()
    return 0 if driver.report(elapsed) else 1


if __name__ == "__main__":
    sys.exit(main())
