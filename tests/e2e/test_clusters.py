"""Clusters through boto3 and aws-cli: create, describe (with include and failures), list with
pagination, update, update settings, delete."""

import pytest
from botocore.exceptions import ClientError

ARN = "arn:aws:ecs:us-east-1:000000000000:cluster/"


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_and_delete_a_cluster(ecs):
    created = ecs.create_cluster(clusterName="web", tags=[{"key": "team", "value": "core"}])["cluster"]
    assert created["clusterArn"] == ARN + "web"
    assert created["status"] == "ACTIVE"
    assert created["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert created["tags"] == [{"key": "team", "value": "core"}]
    for count in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount"):
        assert created[count] == 0

    plain = ecs.describe_clusters(clusters=["web"])
    assert plain["failures"] == []
    [cluster] = plain["clusters"]
    # Without `include`, ECS shows no tags, settings or statistics (describe-clusters.rst).
    assert "tags" not in cluster and "settings" not in cluster and "statistics" not in cluster

    full = ecs.describe_clusters(clusters=[ARN + "web"], include=["TAGS", "SETTINGS", "STATISTICS", "CONFIGURATIONS"])
    [cluster] = full["clusters"]
    assert cluster["tags"] == [{"key": "team", "value": "core"}]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    stats = {s["name"]: s["value"] for s in cluster["statistics"]}
    assert stats["runningEC2TasksCount"] == "0" and stats["activeFargateServiceCount"] == "0"

    deleted = ecs.delete_cluster(cluster="web")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []
    assert ecs.describe_clusters(clusters=["web"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_cluster(cluster="web")
    assert error_code(excinfo) == "ClusterNotFoundException"


def test_creating_an_existing_cluster_returns_it_unchanged(ecs):
    first = ecs.create_cluster(clusterName="same", settings=[{"name": "containerInsights", "value": "enabled"}])
    again = ecs.create_cluster(clusterName="same")
    assert again["cluster"]["settings"] == first["cluster"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert ecs.list_clusters()["clusterArns"] == [ARN + "same"]


def test_the_default_cluster_is_implied(ecs):
    ecs.create_cluster()
    assert ecs.describe_clusters()["clusters"][0]["clusterName"] == "default"


def test_missing_clusters_are_failures_not_errors(ecs):
    ecs.create_cluster(clusterName="here")
    described = ecs.describe_clusters(clusters=["here", "gone"])
    assert [c["clusterName"] for c in described["clusters"]] == ["here"]
    assert described["failures"] == [{"arn": ARN + "gone", "reason": "MISSING"}]


def test_update_cluster_and_its_settings(ecs):
    ecs.create_cluster(clusterName="u")
    updated = ecs.update_cluster_settings(cluster="u", settings=[{"name": "containerInsights", "value": "enhanced"}])
    assert updated["cluster"]["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    configuration = {"executeCommandConfiguration": {"logging": "DEFAULT"}}
    updated = ecs.update_cluster(cluster="u", configuration=configuration,
                                 settings=[{"name": "containerInsights", "value": "disabled"}])
    assert updated["cluster"]["configuration"] == configuration
    assert updated["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    described = ecs.describe_clusters(clusters=["u"], include=["CONFIGURATIONS"])["clusters"][0]
    assert described["configuration"] == configuration
    with pytest.raises(ClientError) as excinfo:
        ecs.update_cluster_settings(cluster="nope", settings=[{"name": "containerInsights", "value": "enabled"}])
    assert error_code(excinfo) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.update_cluster_settings(cluster="u", settings=[{"name": "containerInsights", "value": "sometimes"}])
    assert error_code(excinfo) == "InvalidParameterException"


def test_cluster_insights_default_follows_the_account_setting(ecs):
    ecs.put_account_setting_default(name="containerInsights", value="enabled")
    created = ecs.create_cluster(clusterName="insightful")["cluster"]
    assert created["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_bad_cluster_input_is_rejected_and_changes_nothing(berth, ecs):
    for name in ["has space", "x" * 256, "semi;colon"]:
        with pytest.raises(ClientError) as excinfo:
            ecs.create_cluster(clusterName=name)
        assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.create_cluster(clusterName="t", tags=[{"key": "aws:reserved", "value": "x"}])
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.create_cluster(clusterName="cp", capacityProviders=["my-asg"])
    assert error_code(excinfo) == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.describe_clusters(clusters=[f"c{i}" for i in range(101)])
    assert error_code(excinfo) == "InvalidParameterException"
    assert ecs.list_clusters()["clusterArns"] == []
    done = berth.aws("ecs", "create-cluster", "--cluster-name", "bad name", check=False)
    assert done.returncode != 0
    assert "An error occurred (InvalidParameterException) when calling the CreateCluster operation" in done.stderr


def test_list_clusters_pages_through_every_cluster_exactly_once(berth, ecs):
    names = [f"c{i:03d}" for i in range(123)]
    for name in names:
        ecs.create_cluster(clusterName=name)
    ecs.delete_cluster(cluster="c050")
    expected = sorted(ARN + n for n in names if n != "c050")

    first = ecs.list_clusters(maxResults=10)
    assert len(first["clusterArns"]) == 10 and "nextToken" in first

    # aws-cli follows nextToken itself; --page-size sets maxResults for each call.
    listed = berth.aws("ecs", "list-clusters", "--page-size", "7")["clusterArns"]
    assert listed == expected
    default_pages = []
    token = None
    while True:
        page = ecs.list_clusters(**({"nextToken": token} if token else {}))
        default_pages.append(len(page["clusterArns"]))
        default_pages_arns = page["clusterArns"]
        token = page.get("nextToken")
        if not token:
            break
    assert default_pages[0] == 100 and sum(default_pages) == len(expected)
    assert default_pages_arns[-1] == expected[-1]
    paginator = ecs.get_paginator("list_clusters")
    assert [arn for page in paginator.paginate(PaginationConfig={"PageSize": 9}) for arn in page["clusterArns"]] == expected

    for bad in ({"maxResults": 0}, {"maxResults": 101}, {"nextToken": "not-a-token"}):
        with pytest.raises(ClientError) as excinfo:
            ecs.list_clusters(**bad)
        assert error_code(excinfo) == "InvalidParameterException", bad


NOT_ASSOCIATED = ("The specified capacity provider strategy cannot contain a capacity provider that is not "
                  "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                  "valid capacity provider and try again.")


def refused(call, **kwargs):
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    return error_code(excinfo), excinfo.value.response["Error"]["Message"]


def test_capacity_providers_and_fargate_get_ecs_own_errors_until_they_land(berth, ecs):
    """Until capacity providers and Fargate are served, every request naming them fails with the
    error ECS gives for that case, and changes nothing."""
    # CreateCluster: Fargate's providers are not offered here, others are not found, and a default
    # strategy can only name the cluster's own providers (it has none).
    assert refused(ecs.create_cluster, clusterName="cp", capacityProviders=["FARGATE", "FARGATE_SPOT"]) == (
        "UnsupportedFeatureException", "The FARGATE capacity provider is not supported in this Region.")
    assert refused(ecs.create_cluster, clusterName="cp", capacityProviders=["my-asg"]) == (
        "InvalidParameterException",
        "The specified capacity provider was not found. Specify a valid capacity provider and try again.")
    assert refused(ecs.create_cluster, clusterName="cp",
                   defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}]) == (
        "InvalidParameterException", NOT_ASSOCIATED)
    assert ecs.list_clusters()["clusterArns"] == []

    ecs.create_cluster(clusterName="cp")
    # PutClusterCapacityProviders: the same refusals; with nothing named it answers the cluster.
    assert refused(ecs.put_cluster_capacity_providers, cluster="cp", capacityProviders=["FARGATE"],
                   defaultCapacityProviderStrategy=[])[0] == "UnsupportedFeatureException"
    assert refused(ecs.put_cluster_capacity_providers, cluster="cp", capacityProviders=[],
                   defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}]) == (
        "InvalidParameterException", NOT_ASSOCIATED)
    assert refused(ecs.put_cluster_capacity_providers, cluster="nowhere", capacityProviders=[],
                   defaultCapacityProviderStrategy=[])[0] == "ClusterNotFoundException"
    put = ecs.put_cluster_capacity_providers(cluster="cp", capacityProviders=[], defaultCapacityProviderStrategy=[])
    # ECS leaves a cluster's capacity providers and default strategy out while there are none.
    assert put["cluster"]["clusterArn"] == ARN + "cp"
    assert "capacityProviders" not in put["cluster"] and "defaultCapacityProviderStrategy" not in put["cluster"]
    assert refused(berth.client().create_capacity_provider, name="asg",
                   autoScalingGroupProvider={"autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:000000000000:"
                                                                    "autoScalingGroup:x:autoScalingGroupName/asg"}
                   )[0] == "UnsupportedFeatureException"

    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "web", "image": "berth-demo:latest", "memory": 64}])
    fargate_strategy = [{"capacityProvider": "FARGATE", "weight": 1}]
    for call, extra in [(ecs.run_task, {}), (ecs.create_service, {"serviceName": "s", "desiredCount": 0})]:
        args = dict(cluster="cp", taskDefinition="web", **extra)
        assert refused(call, launchType="FARGATE", **args) == (
            "UnsupportedFeatureException", "The FARGATE launch type is not supported in this Region."), call
        assert refused(call, launchType="EXTERNAL", **args)[0] == "UnsupportedFeatureException"
        assert refused(call, capacityProviderStrategy=fargate_strategy, **args) == (
            "InvalidParameterException", NOT_ASSOCIATED)
        assert refused(call, launchType="EC2", capacityProviderStrategy=fargate_strategy, **args) == (
            "InvalidParameterException",
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
        assert refused(call, platformVersion="1.4.0", **args) == (
            "InvalidParameterException", "The platform version must be null when specifying an EC2 launch type.")
    assert ecs.list_tasks(cluster="cp")["taskArns"] == []
    assert ecs.list_services(cluster="cp")["serviceArns"] == []

    ecs.create_service(cluster="cp", serviceName="s", taskDefinition="web", desiredCount=0)
    assert refused(ecs.update_service, cluster="cp", service="s", capacityProviderStrategy=fargate_strategy) == (
        "InvalidParameterException", NOT_ASSOCIATED)
    assert refused(ecs.update_service, cluster="cp", service="s", platformVersion="LATEST")[0] == \
        "InvalidParameterException"
    # An empty strategy means the launch type, which the service already has.
    updated = ecs.update_service(cluster="cp", service="s", capacityProviderStrategy=[])["service"]
    assert updated["launchType"] == "EC2"
