"""Clusters answer exactly as ECS writes them: each case is a request and the full response the
AWS CLI reference's examples (awscli/examples/ecs/*.rst, the examples the ECS API reference links
to) show for it, or ECS's own error for a bad request."""

import pytest

from fidelity import ACCOUNT, PREFIX, REGION, error, outcome


def cluster(name, **members):
    """A cluster as CreateCluster and UpdateCluster return it (create-cluster.rst Example 1)."""
    shown = {
        "clusterArn": f"{PREFIX}cluster/{name}",
        "clusterName": name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "pendingTasksCount": 0,
        "runningTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [{"name": "containerInsights", "value": "disabled"}],
    }
    shown.update(members)
    return shown


NAMESPACE = f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-<id>"

# (name, calls made first, operation, request, expected answer)
CASES = [
    # create-cluster.rst Example 1: "To create a new cluster" with Container Insights enhanced.
    ("create-enhanced", [], "create_cluster",
     {"clusterName": "MyCluster", "settings": [{"name": "containerInsights", "value": "enhanced"}]},
     {"cluster": cluster("MyCluster", settings=[{"name": "containerInsights", "value": "enhanced"}])}),
    # create-cluster.rst Example 2: "To create a new cluster with multiple tags".
    ("create-tags", [], "create_cluster",
     {"clusterName": "Tagged", "tags": [{"key": "key1", "value": "value1"}, {"key": "key2", "value": "value2"}]},
     {"cluster": cluster("Tagged", tags=[{"key": "key1", "value": "value1"}, {"key": "key2", "value": "value2"}])}),
    # describe-clusters.rst Example 1: without `include`, no statistics, settings or tags.
    ("describe-plain", [("create_cluster", {"clusterName": "Plain"})], "describe_clusters",
     {"clusters": ["Plain"]},
     {"clusters": [{
         "clusterArn": f"{PREFIX}cluster/Plain", "clusterName": "Plain", "status": "ACTIVE",
         "registeredContainerInstancesCount": 0, "pendingTasksCount": 0, "runningTasksCount": 0,
         "activeServicesCount": 0,
     }], "failures": []}),
    ("describe-missing", [], "describe_clusters", {"clusters": ["Nowhere"]},
     {"clusters": [], "failures": [{"arn": f"{PREFIX}cluster/Nowhere", "reason": "MISSING"}]}),
    # DescribeClusters given no cluster, or an empty list, describes `default` ("If you do not
    # specify a cluster, the default cluster is assumed."): MISSING while there is none.
    ("describe-empty-list-no-default", [], "describe_clusters", {"clusters": []},
     {"clusters": [], "failures": [{"arn": f"{PREFIX}cluster/default", "reason": "MISSING"}]}),
    ("describe-empty-list", [("create_cluster", {})], "describe_clusters", {"clusters": []},
     {"clusters": [{
         "clusterArn": f"{PREFIX}cluster/default", "clusterName": "default", "status": "ACTIVE",
         "registeredContainerInstancesCount": 0, "pendingTasksCount": 0, "runningTasksCount": 0,
         "activeServicesCount": 0,
     }], "failures": []}),
    # update-cluster.rst Example 1: "Update ECS cluster enabling containerInsights".
    ("update-insights", [("create_cluster", {"clusterName": "Insights"})], "update_cluster",
     {"cluster": "Insights", "settings": [{"name": "containerInsights", "value": "enabled"}]},
     {"cluster": cluster("Insights", settings=[{"name": "containerInsights", "value": "enabled"}])}),
    # update-cluster.rst Example 2: a default Service Connect namespace, named, comes back as the
    # namespace's ARN.
    ("update-service-connect", [("create_cluster", {"clusterName": "Connected"})], "update_cluster",
     {"cluster": "Connected", "serviceConnectDefaults": {"namespace": "test"}},
     {"cluster": cluster("Connected", serviceConnectDefaults={"namespace": NAMESPACE})}),
    # CreateCluster keeps the namespace too (create-cluster.rst "serviceConnectDefaults").
    ("create-service-connect", [], "create_cluster",
     {"clusterName": "ConnectedAtBirth", "serviceConnectDefaults": {"namespace": "test"}},
     {"cluster": cluster("ConnectedAtBirth", serviceConnectDefaults={"namespace": NAMESPACE})}),
    # update-cluster-settings.rst: "To modify the settings for your cluster".
    ("update-settings", [("create_cluster", {"clusterName": "Settled"})], "update_cluster_settings",
     {"cluster": "Settled", "settings": [{"name": "containerInsights", "value": "enabled"}]},
     {"cluster": cluster("Settled", settings=[{"name": "containerInsights", "value": "enabled"}])}),
    # containerInsights takes enabled | disabled | enhanced; ECS names the member it refuses.
    ("update-bad-insights", [("create_cluster", {"clusterName": "Bad"})], "update_cluster",
     {"cluster": "Bad", "settings": [{"name": "containerInsights", "value": "sometimes"}]},
     error("InvalidParameterException", "Invalid setting 'value'")),
    ("update-settings-bad-insights", [("create_cluster", {"clusterName": "Bad2"})], "update_cluster_settings",
     {"cluster": "Bad2", "settings": [{"name": "containerInsights", "value": "ENABLED"}]},
     error("InvalidParameterException", "Invalid setting 'value'")),
    # An execute command log configuration goes only with logging OVERRIDE, in ECS's words
    # (terraform-aws-modules/terraform-aws-ecs#84); with OVERRIDE it is kept.
    ("update-log-configuration-without-override", [("create_cluster", {"clusterName": "Logged"})],
     "update_cluster",
     {"cluster": "Logged", "configuration": {"executeCommandConfiguration": {
         "logging": "DEFAULT", "logConfiguration": {"cloudWatchLogGroupName": "exec"}}}},
     error("InvalidParameterException", "You must set logging to 'OVERRIDE' when you supply a log configuration")),
    ("create-log-configuration-without-logging", [], "create_cluster",
     {"clusterName": "Logged", "configuration": {"executeCommandConfiguration": {
         "logConfiguration": {"cloudWatchLogGroupName": "exec"}}}},
     error("InvalidParameterException", "You must set logging to 'OVERRIDE' when you supply a log configuration")),
    ("update-log-configuration-override", [("create_cluster", {"clusterName": "Logged"})], "update_cluster",
     {"cluster": "Logged", "configuration": {"executeCommandConfiguration": {
         "logging": "OVERRIDE", "logConfiguration": {"cloudWatchLogGroupName": "exec"}}}},
     {"cluster": cluster("Logged", configuration={"executeCommandConfiguration": {
         "logging": "OVERRIDE", "logConfiguration": {"cloudWatchLogGroupName": "exec"}}})}),
    # A tag needs a key (1-128 characters, per the API reference's Tag): a keyless one is refused
    # as an empty key is, and the cluster keeps its tags.
    ("tag-without-key", [("create_cluster", {"clusterName": "Tagged", "tags": [{"key": "a", "value": "1"}]})],
     "tag_resource", {"resourceArn": f"{PREFIX}cluster/Tagged", "tags": [{"value": "keyless"}]},
     error("InvalidParameterException", "1 validation error detected: Value at 'tags.1.member.key' failed to "
           "satisfy constraint: Member must have length greater than or equal to 1")),
]


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_cluster_answers_as_ecs_writes_them(ecs, name, setup, operation, request_, expected):
    for step, arguments in setup:
        getattr(ecs, step)(**arguments)
    assert outcome(ecs, operation, request_) == expected


def test_a_refused_tag_changes_nothing(ecs):
    """TagResource with one keyless tag among good ones writes none of them."""
    arn = ecs.create_cluster(clusterName="Tagged", tags=[{"key": "a", "value": "1"}])["cluster"]["clusterArn"]
    refused = outcome(ecs, "tag_resource", {"resourceArn": arn, "tags": [{"key": "b", "value": "2"}, {"value": "x"}]})
    assert refused["Error"]["Code"] == "InvalidParameterException"
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
