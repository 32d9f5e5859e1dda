"""TagResource / UntagResource / ListTagsForResource on clusters and task definitions, and the
account settings actions."""

import pytest
from botocore.exceptions import ClientError

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/tagged"
ROOT = "arn:aws:iam::000000000000:root"


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_tagging_a_cluster(ecs):
    ecs.create_cluster(clusterName="tagged", tags=[{"key": "a", "value": "1"}])
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "a", "value": "2"}, {"key": "b", "value": "3"}])
    assert ecs.list_tags_for_resource(resourceArn=CLUSTER)["tags"] == [{"key": "a", "value": "2"}, {"key": "b", "value": "3"}]
    ecs.untag_resource(resourceArn=CLUSTER, tagKeys=["a", "missing"])
    assert ecs.list_tags_for_resource(resourceArn=CLUSTER)["tags"] == [{"key": "b", "value": "3"}]
    described = ecs.describe_clusters(clusters=["tagged"], include=["TAGS"])["clusters"][0]
    assert described["tags"] == [{"key": "b", "value": "3"}]


def test_tagging_a_task_definition(ecs):
    arn = ecs.register_task_definition(family="t", containerDefinitions=[
        {"name": "w", "image": "i", "memory": 64}])["taskDefinition"]["taskDefinitionArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "core"}])
    assert ecs.describe_task_definition(taskDefinition="t", include=["TAGS"])["tags"] == [{"key": "team", "value": "core"}]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "core"}]


def test_tag_limits_and_missing_resources(ecs):
    ecs.create_cluster(clusterName="tagged", tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as excinfo:
        ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "one-too-many", "value": "v"}])
    assert code_of(excinfo) == "InvalidParameterException"
    assert len(ecs.list_tags_for_resource(resourceArn=CLUSTER)["tags"]) == 50
    with pytest.raises(ClientError) as excinfo:
        ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "aws:x", "value": "v"}])
    assert code_of(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_tags_for_resource(resourceArn="arn:aws:ecs:us-east-1:000000000000:cluster/none")
    assert code_of(excinfo) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.tag_resource(resourceArn="arn:aws:ecs:us-east-1:000000000000:task-definition/none:1", tags=[{"key": "k", "value": "v"}])
    assert code_of(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_tags_for_resource(resourceArn="not-an-arn")
    assert code_of(excinfo) == "InvalidParameterException"


def test_account_settings(ecs):
    assert ecs.list_account_settings()["settings"] == []
    put = ecs.put_account_setting(name="awsvpcTrunking", value="enabled")["setting"]
    assert put == {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROOT, "type": "user"}
    user = "arn:aws:iam::000000000000:user/dev"
    ecs.put_account_setting(name="containerInsights", value="enhanced", principalArn=user)
    assert ecs.list_account_settings(principalArn=user)["settings"] == [
        {"name": "containerInsights", "value": "enhanced", "principalArn": user, "type": "user"}]

    effective = ecs.list_account_settings(effectiveSettings=True, principalArn=user)["settings"]
    assert len(effective) == 10  # one page; the model caps pages at 10
    by_name = {s["name"]: s["value"] for s in effective}
    assert by_name["containerInsights"] == "enhanced"
    assert by_name["awsvpcTrunking"] == "enabled"  # the root's setting is the account default
    assert by_name["taskLongArnFormat"] == "enabled"
    paginator = ecs.get_paginator("list_account_settings")
    everything = [s for page in paginator.paginate(effectiveSettings=True, PaginationConfig={"PageSize": 3}) for s in page["settings"]]
    assert len(everything) == 11 and len({s["name"] for s in everything}) == 11
    assert ecs.list_account_settings(effectiveSettings=True, name="fargateTaskRetirementWaitPeriod")["settings"][0]["value"] == "7"

    default = ecs.put_account_setting_default(name="fargateTaskRetirementWaitPeriod", value="14")["setting"]
    assert default["principalArn"] == ROOT and default["value"] == "14"
    deleted = ecs.delete_account_setting(name="awsvpcTrunking")["setting"]
    assert deleted["value"] == "enabled"
    assert [s["name"] for s in ecs.list_account_settings()["settings"]] == ["fargateTaskRetirementWaitPeriod"]

    for kwargs in [{"name": "awsvpcTrunking", "value": "maybe"}, {"name": "fargateTaskRetirementWaitPeriod", "value": "3"},
                   {"name": "notASetting", "value": "enabled"}]:
        with pytest.raises(ClientError) as excinfo:
            ecs.put_account_setting(**kwargs)
        assert code_of(excinfo) == "InvalidParameterException", kwargs
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_account_setting(name="awsvpcTrunking")
    assert code_of(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.list_account_settings(maxResults=11)
    assert code_of(excinfo) == "InvalidParameterException"
