"""Binds berth_wire's codecs to botocore, the client aws-cli and boto3 use.

  python3 cases.py gen          writes ../fixtures/{requests,responses}.json: random inputs per
                                operation serialized by botocore's own serializers (the Rust test
                                decodes them back to the params), and random outputs the Rust test
                                encodes.
  python3 cases.py check FILE   parses the responses and error bodies Rust encoded (FILE) with
                                botocore's parsers and compares them with the expected data.

Values are written in the JSON form of berth's generated types: timestamps as epoch seconds,
blobs as base64.
"""

import base64
import datetime
import json
import math
import os
import random
import sys

import botocore.awsrequest
import botocore.model
import botocore.parsers
import botocore.serialize
import botocore.session
import botocore.utils

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")

EC2_OPERATIONS = [
    "DescribeRegions", "DescribeAvailabilityZones", "CreateVpc", "DescribeVpcs", "DeleteVpc",
    "ModifyVpcAttribute", "DescribeVpcAttribute", "CreateSubnet", "DescribeSubnets",
    "DeleteSubnet", "ModifySubnetAttribute", "CreateSecurityGroup", "DescribeSecurityGroups",
    "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DescribeSecurityGroupRules",
    "CreateTags", "DeleteTags", "DescribeTags", "DescribeRouteTables",
    "DescribeInternetGateways", "DescribeAccountAttributes",
]

STRINGS = [
    "plain", "tag:Name", "<&>\"' hostile", "ünïcødé 日本語 🚀", "a b+c=d&e%20f", "line\nbreak",
    "crlf\r\nend", "", " padded ", "tab\there", "sg-0123456789abcdef0", "10.0.0.0/16",
]
FLOATS = [0.5, -2.25, 1024.0, 3.0, 0.0, 1e-3, 123456.75]
# What a header can carry (no line breaks, no padding HTTP would trim); botocore quotes list
# items with commas or quotes when it sends them, but its parser splits at every comma.
HEADER_STRINGS = ["plain", "tag:Name", "a b+c=d&e%20f", "sg-0123456789abcdef0", "10.0.0.0/16"]
QUOTED_HEADER_STRINGS = HEADER_STRINGS + ["with,comma", 'with "quote"']
GREEDY_LABELS = ["photos/2026/x.jpg", "a b/ünï/+=", "single"]


class Gen:
    """Random values for botocore shapes. `whole_seconds`: botocore's CBOR serializer drops
    sub-second precision; `min_list`: EC2 does not send empty lists at all."""

    def __init__(self, rng, whole_seconds=False, min_list=0):
        self.rng = rng
        self.whole_seconds = whole_seconds
        self.min_list = min_list

    def value(self, shape, depth=0):
        t = shape.type_name
        r = self.rng
        if t == "structure":
            members = list(shape.members.items())
            if getattr(shape, "is_tagged_union", False) and members:
                name, member = r.choice(members)
                return {name: self.value(member, depth + 1)}
            out = {}
            for name, member in members:
                if member.type_name in ("structure", "list", "map") and depth >= 4:
                    continue
                if r.random() < 0.65:
                    out[name] = self.value(member, depth + 1)
            return out
        if t == "list":
            return [self.value(shape.member, depth + 1)
                    for _ in range(r.randint(self.min_list, 2))]
        if t == "map":
            return {r.choice(STRINGS) or "k": self.value(shape.value, depth + 1)
                    for _ in range(r.randint(1, 2))}
        if t == "string":
            if shape.enum:
                return r.choice(shape.enum)
            return r.choice(STRINGS)
        if t == "boolean":
            return r.random() < 0.5
        if t == "integer":
            return r.randint(-5, 2**31 - 1)
        if t == "long":
            return r.randint(-(2**40), 2**40)
        if t in ("float", "double"):
            return r.choice(FLOATS)
        if t == "timestamp":
            ms = 0 if self.whole_seconds else r.randint(0, 999) * 1000
            return datetime.datetime(r.randint(1971, 2099), r.randint(1, 12), r.randint(1, 28),
                                     r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), ms,
                                     tzinfo=datetime.timezone.utc)
        if t == "blob":
            return bytes(r.randint(0, 255) for _ in range(r.randint(0, 12)))
        raise ValueError(f"no generator for {t}")


def json_form(value):
    if isinstance(value, dict):
        return {k: json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_form(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def on_query_wire(value):
    """What of `value` the query protocols can carry: an empty structure sends no parameter, so
    it (and a list that held only such items) cannot arrive. `None` means nothing arrives."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            kept = on_query_wire(v)
            if kept is not None:
                out[k] = kept
        return out or None
    if isinstance(value, list):
        kept = [k for k in (on_query_wire(v) for v in value) if k is not None]
        return kept if kept or not value else None
    return value


def is_json_value(member):
    return member.serialization.get("jsonvalue") or getattr(member, "metadata", {}).get("jsonvalue")


def on_rest_wire(params, op, rng):
    """Fits `params` to what REST-JSON can carry and returns them with their expected JSON form:
    every path label present and non-empty (a request without one has no path), greedy ones
    with slashes; no empty list or map in the query string or headers (they send nothing);
    header strings a header can carry; the payload present (botocore sends `{}` or nothing for
    a missing one). A `jsonvalue` header's JSON form is the JSON text."""
    shape = op.input_shape
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            greedy = "{%s+}" % wire_name in op.http["requestUri"]
            params[name] = rng.choice(GREEDY_LABELS if greedy else [s for s in STRINGS if s.strip()])
        elif location == "header" and name in params:
            if is_json_value(member):
                params[name] = {"a": [1, "x"], "b": rng.choice(STRINGS)}
            elif member.type_name == "string":
                params[name] = rng.choice(HEADER_STRINGS)
            elif member.type_name == "list" and member.member.type_name == "string":
                params[name] = [rng.choice(QUOTED_HEADER_STRINGS) for _ in range(rng.randint(1, 3))]
        elif location == "headers" and name in params:
            params[name] = {rng.choice(["color", "a", "x-y"]): rng.choice(HEADER_STRINGS)}
        elif name == payload:
            params[name] = Gen(rng, whole_seconds=True).value(member)
            if member.type_name == "blob":
                params[name] = params[name] or b"\x00payload"
            elif member.type_name == "string":
                params[name] = params[name] or "text"
        if location in ("querystring", "header") and params.get(name) in ([], {}):
            del params[name]
        if isinstance(params.get(name), dict) and member.type_name == "map":
            for key in [k for k, v in params[name].items() if v == []]:
                del params[name][key]
            if not params[name]:
                del params[name]
    expected = json_form(params)
    for name, member in shape.members.items():
        if name in params and is_json_value(member):
            expected[name] = json.dumps(params[name], separators=(",", ":"))
    return params, expected


def on_rest_response(out, op, rng):
    """Fits an output to what botocore's REST-JSON parser reads back; returns the JSON form to
    encode and the data botocore must parse. The parser always reports the status code, the
    prefix headers and the payload, splits list headers at every comma, and reads a
    `jsonvalue` header's JSON; headers carry whole seconds."""
    shape = op.output_shape
    payload = shape.serialization.get("payload")
    parsed = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location == "statusCode":
            out[name] = rng.choice([200, 201, 202, 203])
        elif location == "headers":
            out[name] = {rng.choice(["color", "a", "x-y"]): rng.choice(HEADER_STRINGS)}
        elif location == "header" and name in out:
            if is_json_value(member):
                parsed[name] = {"n": rng.randint(0, 9), "s": rng.choice(STRINGS)}
                out[name] = json.dumps(parsed[name])
            elif member.type_name == "string":
                out[name] = rng.choice(HEADER_STRINGS)
            elif member.type_name == "timestamp":
                out[name] = out[name].replace(microsecond=0)
            elif member.type_name == "list" and not out[name]:
                del out[name]
        elif name == payload and member.type_name == "blob":
            # botocore hands a non-streaming blob payload back decoded as UTF-8 text.
            parsed[name] = rng.choice(STRINGS)
            out[name] = parsed[name].encode()
        elif name == payload and name not in out:
            out[name] = Gen(rng).value(member)
    expected = json_form(out)
    expected.update(parsed)
    return json_form(out), expected


def rest_request(wire):
    """The parts of a REST request botocore would send, as the Rust test reads them: a
    template's literal query parts ride in `url_path`, the parameters follow them."""
    path, _, literal = wire["url_path"].partition("?")
    encoded = botocore.utils.percent_encode_sequence(wire["query_string"])
    return {
        "method": wire["method"],
        "path": path,
        "query": "&".join(q for q in [literal, encoded] if q),
        "headers": {k: v for k, v in wire["headers"].items()},
        "body_hex": (wire["body"].encode() if isinstance(wire["body"], str) else wire["body"] or b"").hex(),
    }


def services():
    session = botocore.session.get_session()
    for name, protocol, operations in [
        ("sts", "query", None),
        ("ec2", "ec2", EC2_OPERATIONS),
        ("cloudwatch", "smithy-rpc-v2-cbor", None),
        ("scheduler", "rest-json", None),
    ]:
        model = session.get_service_model(name)
        yield name, protocol, model, operations or list(model.operation_names)
    with open(os.path.join(HERE, "restfixture-2026-12-05.json"), encoding="utf-8") as f:
        fixture = botocore.model.ServiceModel(json.load(f), "restfixture")
    yield "restfixture", "rest-json", fixture, list(fixture.operation_names)


def gen():
    rng = random.Random(20261205)
    requests, responses = [], []
    for service, protocol, model, operations in services():
        serializer = botocore.serialize.create_serializer(protocol, include_validation=False)
        for op_name in operations:
            op = model.operation_model(op_name)
            for i in range(4):
                g = Gen(rng, whole_seconds=protocol != "query" and protocol != "ec2",
                        min_list=1 if protocol == "ec2" else 0)
                if op.input_shape is not None:
                    params = g.value(op.input_shape) if i else {}
                    expected = None
                    if protocol == "rest-json":
                        params, expected = on_rest_wire(params, op, rng)
                    wire = serializer.serialize_to_request(params, op)
                    body = wire["body"]
                    case = {"service": service, "operation": op_name,
                            "params": expected or json_form(params)}
                    if protocol == "rest-json":
                        case["rest"] = rest_request(wire)
                    elif isinstance(body, dict):
                        case["params"] = on_query_wire(case["params"]) or {}
                        case["form"] = botocore.utils.percent_encode_sequence(body)
                    else:
                        case["cbor_hex"] = bytes(body).hex()
                    requests.append(case)
                if op.output_shape is not None:
                    out = Gen(rng, whole_seconds=False).value(op.output_shape)
                    case = {"service": service, "operation": op_name, "output": json_form(out)}
                    if protocol == "rest-json":
                        case["output"], case["expected"] = on_rest_response(out, op, rng)
                    responses.append(case)
    os.makedirs(FIXTURES, exist_ok=True)
    for name, data in [("requests.json", requests), ("responses.json", responses)]:
        with open(os.path.join(FIXTURES, name), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=0, sort_keys=True)
    print(f"{len(requests)} requests, {len(responses)} responses")


def same(expected, actual, path="$"):
    """Mismatches between the JSON form expected and what botocore parsed (normalized)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for k in set(expected) | set(actual):
            if k not in actual or k not in expected:
                problems.append(f"{path}.{k}: expected {expected.get(k)!r}, parsed {actual.get(k)!r}")
            else:
                problems += same(expected[k], actual[k], f"{path}.{k}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [p for i, (e, a) in enumerate(zip(expected, actual)) for p in same(e, a, f"{path}[{i}]")]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) \
            and not isinstance(expected, bool) and not isinstance(actual, bool):
        return [] if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-6) else [f"{path}: {expected!r} != {actual!r}"]
    return [] if expected == actual and type(expected) is type(actual) else [f"{path}: expected {expected!r}, parsed {actual!r}"]


def check(path):
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    models = {name: (protocol, model) for name, protocol, model, _ in services()}
    failures = 0
    for case in cases:
        protocol, model = models[case["service"]]
        op = model.operation_model(case["operation"])
        body = bytes.fromhex(case["body_hex"])
        parser = botocore.parsers.create_parser(protocol)
        headers = botocore.awsrequest.HeadersDict(case.get("headers", {}))
        response = {"body": body, "headers": headers,
                    "status_code": case["status"]}
        parsed = parser.parse(response, op.output_shape)
        label = f'{case["service"]}.{case["operation"]}'
        if "error" in case:
            got = parsed.get("Error", {})
            want = case["error"]
            if got.get("Code") != want["code"] or got.get("Message") != want["message"]:
                failures += 1
                print(f"{label} error: expected {want}, parsed {got}")
            continue
        parsed.pop("ResponseMetadata", None)
        problems = same(case["expected"], json_form(parsed))
        if problems:
            failures += 1
            print(f"{label}: " + "; ".join(problems[:5]))
    print(f"{len(cases) - failures}/{len(cases)} parsed as expected")
    return failures == 0


if __name__ == "__main__":
    if sys.argv[1:] == ["gen"]:
        gen()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2]) else 1)
    else:
        sys.exit(__doc__)
