"""The AWS front door with hand-made requests: every kind of bad input gets the AWS error shape
(`__type`, `message`, the right status) and changes nothing."""

import json
import re
import socket

import botocore.session
import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, sign

SIGNED = ("AWS4-HMAC-SHA256 Credential=AKIDBERTHTEST/20261122/us-east-1/ecs/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=0123abcd")


def assert_error(response, status, exception, fragment=""):
    got_status, body = response
    assert got_status == status, body
    assert body["__type"] == exception, body
    assert fragment in body["message"], body


def test_a_signed_request_is_served_and_an_unsigned_one_refused(berth):
    status, body = berth.raw("ListClusters", b"{}")
    assert (status, body) == (200, {"clusterArns": []})
    status, _ = berth.raw("ListClusters", b"")
    assert status == 200
    assert_error(berth.raw("ListClusters", b"{}", signed=False), 400, "MissingAuthenticationTokenException")


MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")


def test_a_forged_signature_is_refused(berth):
    # Signed now with the right keys, then altered: the signature itself must be checked, not
    # only its form and its date.
    headers = sign("POST", berth.url + "/", b"{}", {
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1"})
    assert berth.raw("ListClusters", b"{}", headers=headers) == (200, {"clusterArns": []})
    authorization = headers["Authorization"]
    signature = authorization.rsplit("Signature=", 1)[1]
    forged = authorization[:-len(signature)] + ("1" if signature[0] == "0" else "0") + signature[1:]
    assert_error(berth.raw("ListClusters", b"{}", headers={**headers, "Authorization": forged}),
                 400, "InvalidSignatureException", MISMATCH)
    # The signature covers the body: the same headers on another body are refused.
    assert_error(berth.raw("ListClusters", b'{"maxResults": 1}', headers=headers), 400, "InvalidSignatureException",
                 MISMATCH)
    # A made-up signature of the right form, and one from another day.
    assert_error(berth.raw("ListClusters", b"{}", headers={**headers, "Authorization": SIGNED}),
                 400, "InvalidSignatureException")
    assert_error(berth.raw("ListClusters", b"{}", headers={"Authorization": SIGNED, "X-Amz-Date": "20261122T000000Z"}),
                 400, "InvalidSignatureException")


def test_unknown_operations(berth):
    assert_error(berth.raw("Frobnicate", b"{}"), 400, "UnknownOperationException")
    assert_error(berth.raw(None, b"{}", headers={"X-Amz-Target": "Nope_20200101.ListClusters"}), 400, "UnknownOperationException")
    assert_error(berth.raw(None, b"{}"), 400, "UnknownOperationException")


def implemented_ecs_actions():
    """The actions the ECS dispatcher hands to a handler: every `Op::Name` it matches before its
    catch-all arm."""
    source = (ROOT / "crates/berth-control/src/ecs/mod.rs").read_text()
    body = source[source.index("pub async fn call("):]
    body = body[:body.index("other =>")]
    return set(re.findall(r"\bOp::([A-Z]\w*)", body))


def test_every_unimplemented_action_says_so_as_ecs_does(berth):
    model = botocore.session.get_session().get_service_model("ecs")
    implemented = implemented_ecs_actions()
    assert implemented and implemented <= set(model.operation_names), implemented - set(model.operation_names)
    refused = set()
    for operation in model.operation_names:
        status, body = berth.raw(operation, b"{}")
        if operation not in implemented:
            # ECS's error shape: 400, the exception's name in __type, a message naming the action.
            assert (status, body) == (400, {
                "__type": "UnsupportedFeatureException",
                "message": f"Berth does not implement the ECS action {operation} yet."}), operation
            refused.add(operation)
        else:
            assert not (body and body.get("__type") == "UnsupportedFeatureException"
                        and "does not implement" in body.get("message", "")), (operation, body)
    assert refused == set(model.operation_names) - implemented
    # boto3 reads it as ECS's modelled error.
    if refused:
        ecs = berth.client()
        operation = sorted(refused)[0]
        shape = model.operation_model(operation).input_shape
        with pytest.raises(ClientError) as raised:
            ecs._make_api_call(operation, minimal_input(shape) if shape else {})
        assert raised.value.response["Error"]["Code"] == "UnsupportedFeatureException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def minimal_input(shape):
    """A value of `shape` with every required member filled in, enough for botocore to send it."""
    if shape.type_name == "structure":
        return {name: minimal_input(shape.members[name]) for name in shape.required_members}
    if shape.type_name == "list":
        return [minimal_input(shape.member)]
    if shape.type_name == "map":
        return {}
    if shape.type_name in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if shape.type_name == "boolean":
        return True
    if shape.enum:
        return shape.enum[0]
    return "x"


# A JSON array is not an object even where serde could fill a structure from it in order.
@pytest.mark.parametrize("body", [b"{", b"[1,2]", b"\"text\"", b"{\"clusterName\": }", b"\xff\xfe", b"[]",
                                  b"[\"fuzz\"]", b"null"])
def test_malformed_bodies_are_serialization_errors(berth, body):
    assert_error(berth.raw("CreateCluster", body), 400, "SerializationException")
    assert berth.raw("ListClusters", b"{}")[1] == {"clusterArns": []}


def test_wrong_member_types_are_serialization_errors(berth):
    assert_error(berth.raw("CreateCluster", json.dumps({"clusterName": 7}).encode()), 400, "SerializationException")
    assert_error(berth.raw("ListClusters", json.dumps({"maxResults": "ten"}).encode()), 400, "SerializationException")
    assert_error(berth.raw("ListClusters", json.dumps({"maxResults": 2**40}).encode()), 400, "SerializationException")
    assert_error(berth.raw("RegisterTaskDefinition", json.dumps(
        {"family": "f", "containerDefinitions": {"name": "web"}}).encode()), 400, "SerializationException")
    assert_error(berth.raw("CreateCluster", json.dumps(
        {"clusterName": "c", "settings": [["containerInsights", "enabled"]]}).encode()), 400, "SerializationException",
                 "'settings[0]' is an array, expected an object.")
    assert_error(berth.raw("ListClusters", json.dumps({"maxResults": True}).encode()), 400, "SerializationException")
    assert berth.raw("ListClusters", b"{}")[1] == {"clusterArns": []}


def test_missing_required_members_and_unknown_enum_values(berth):
    assert_error(berth.raw("RegisterTaskDefinition", b'{"family": "f"}'), 400, "InvalidParameterException",
                 "Value null at 'containerDefinitions' failed to satisfy constraint: Member must not be null")
    assert_error(berth.raw("RegisterTaskDefinition", json.dumps(
        {"family": "f", "containerDefinitions": [{"name": "w", "image": "i", "memory": 64,
                                                 "dependsOn": [{"containerName": "w"}]}]}).encode()),
                 400, "InvalidParameterException", "'containerDefinitions.1.member.dependsOn.1.member.condition'")
    assert_error(berth.raw("DescribeClusters", b'{"include": ["EVERYTHING"]}'), 400, "InvalidParameterException",
                 "Member must satisfy enum value set: [ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS]")
    assert_error(berth.raw("TagResource", json.dumps(
        {"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/x", "tags": [{"key": "k", "value": "v" * 257}]}).encode()),
                 400, "InvalidParameterException", "length less than or equal to 256")


def test_wrong_content_type(berth):
    assert_error(berth.raw("ListClusters", b"{}", content_type="text/plain"), 400, "SerializationException", "content type")
    assert_error(berth.raw("ListClusters", b"{}", content_type=None), 400, "SerializationException")


def test_oversized_bodies_are_refused_before_reading(berth):
    # Only the head is sent: the server must answer from Content-Length without reading the body.
    with socket.create_connection(("127.0.0.1", berth.port), timeout=10) as sock:
        sock.sendall((
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
            "X-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\n"
            f"Content-Length: {2 << 20}\r\n\r\n").encode())
        received = b""
        for _ in range(50):  # until the JSON error body has arrived
            chunk = sock.recv(65536)
            received += chunk
            if not chunk or received.rstrip().endswith(b"}"):
                break
        head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
    assert berth.raw("ListClusters", b"{}")[1] == {"clusterArns": []}


def test_malformed_signatures(berth):
    for header in ["AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs", "Bearer token"]:
        assert_error(berth.raw("ListClusters", b"{}", headers={"Authorization": header}), 400, "IncompleteSignatureException")


def test_responses_carry_request_ids(berth):
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=10)
    connection.request("POST", "/", body=b"{}", headers={
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1"})
    response = connection.getresponse()
    response.read()
    assert response.getheader("Content-Type") == "application/x-amz-json-1.1"
    assert len(response.getheader("x-amzn-RequestId")) == 36


def test_berths_own_routes_refuse_oversized_bodies_before_reading(berth):
    with socket.create_connection(("127.0.0.1", berth.port), timeout=10) as sock:
        sock.sendall((
            "POST /berth/v1/plan/run-task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 << 20}\r\n\r\n").encode())
        received = b""
        for _ in range(50):  # until the JSON error body has arrived
            chunk = sock.recv(65536)
            received += chunk
            if not chunk or received.rstrip().endswith(b"}"):
                break
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
