"""Helpers of the table-driven fidelity tests (`test_fidelity_*.py`): each case is a request and
the full answer ECS gives to it, in the shape the AWS API reference's and the AWS CLI reference's
examples show, with what changes from run to run (ids inside ARNs, timestamps, request ids)
normalised so that whole answers can be compared."""

import datetime
import re

from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
REGION = "us-east-1"
PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:"

# Ids minted: task and container instance ids (32 hex), deployment ids, UUIDs, Cloud Map
# namespace ids.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
_DEPLOYMENT = re.compile(r"ecs-svc/\d+")
_NAMESPACE = re.compile(r"namespace/ns-[a-z0-9]{16}")
_SERVICE_DEPLOYMENT = re.compile(r"(service-(?:deployment|revision)/[^/]+/[^/]+/)\d+")


def normalise(value):
    """`value` with timestamps as "<time>" and minted ids as "<id>"."""
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, datetime.datetime):
        return "<time>"
    if isinstance(value, str):
        value = _UUID.sub("<id>", value)
        value = _HEX32.sub("<id>", value)
        value = _NAMESPACE.sub("namespace/ns-<id>", value)
        value = _SERVICE_DEPLOYMENT.sub(r"\1<id>", value)
        return _DEPLOYMENT.sub("ecs-svc/<id>", value)
    return value


def outcome(client, operation, request):
    """The normalised answer to one call: its response, or `{"Error": {"Code", "Message"}}`."""
    try:
        return normalise(getattr(client, operation)(**request))
    except ClientError as err:
        return {"Error": {"Code": err.response["Error"]["Code"], "Message": err.response["Error"]["Message"]}}


def error(code, message):
    return {"Error": {"Code": code, "Message": message}}
