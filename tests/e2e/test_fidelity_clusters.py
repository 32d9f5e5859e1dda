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
]


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_cluster_answers_as_ecs_writes_them(ecs, name, setup, operation, request_, expected):
    for step, arguments in setup:
        getattr(ecs, step)(**arguments)
    assert outcome(ecs, operation, request_) == expected
