"""Container metrics on real Docker: a server started with `--metric-period 1`, an agent with
known resources, and a service whose task burns a core (`berth-demo burn`). The agent samples
Docker stats every second and the control plane publishes what ECS publishes, read back with
boto3's CloudWatch client: AWS/ECS CPUUtilization and MemoryUtilization per cluster and per
service, CPUReservation/MemoryReservation per cluster, ECS/ContainerInsights for a cluster that
enables it, and the per-task figures on Prometheus' /metrics."""

import contextlib
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import running_berth
from test_tasks import Agent, connected_instances, demo_image, remove_cluster_containers, wait_for  # noqa: F401

# The agent registers these, so the reservation metrics are known exactly.
INSTANCE_CPU = 4096
INSTANCE_MEMORY = 4096
TASK_CPU = 512
TASK_MEMORY = 128


@pytest.fixture
def server(berth_binary):
    with running_berth(berth_binary, "--metric-period", "1") as server:
        yield server


@contextlib.contextmanager
def cluster_with_agent(server, berth_binary, settings=()):
    """A new cluster with `settings` and one connected agent of known resources; yields
    (cluster, ecs client), and removes the agent and the cluster's containers after."""
    cluster = f"m-{uuid.uuid4().hex[:10]}"
    ecs = server.client()
    ecs.create_cluster(clusterName=cluster, settings=list(settings))
    workdir = tempfile.TemporaryDirectory(prefix="berth-agent-")
    agent = Agent(berth_binary, server, cluster, Path(workdir.name) / "agent",
                  ["--cpu", str(INSTANCE_CPU), "--memory", str(INSTANCE_MEMORY)])
    agent.start()
    try:
        wait_for(lambda: len(connected_instances(ecs, cluster)) == 1, "agent registration")
        yield cluster, ecs
    finally:
        agent.stop()
        remove_cluster_containers(cluster)
        workdir.cleanup()


@pytest.fixture
def burner(server, berth_binary, demo_image):
    """A cluster with Container Insights, one agent and a service of one CPU-burning task;
    yields (cluster, service, ecs client)."""
    insights = [{"name": "containerInsights", "value": "enabled"}]
    with cluster_with_agent(server, berth_binary, insights) as (cluster, ecs):
        ecs.register_task_definition(family="burner", containerDefinitions=[{
            "name": "burn", "image": "berth-demo:latest", "command": ["burn"],
            "cpu": TASK_CPU, "memory": TASK_MEMORY}])
        ecs.create_service(cluster=cluster, serviceName="burner", taskDefinition="burner", desiredCount=1)
        wait_for(lambda: ecs.describe_services(cluster=cluster, services=["burner"])["services"][0]["runningCount"] == 1,
                 "the burning task to run", timeout=60)
        yield cluster, "burner", ecs


def datapoints(cloudwatch, namespace, name, dimensions, statistics=("Average", "Minimum", "Maximum")):
    now = int(time.time())
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=now - 300, EndTime=now + 5, Period=1, Statistics=list(statistics))
    return sorted(answer["Datapoints"], key=lambda point: point["Timestamp"])


def test_a_cpu_burning_service_shows_in_cloudwatch_and_prometheus(server, burner):
    cluster, service, ecs = burner
    cloudwatch = server.client("cloudwatch")
    of_cluster = {"ClusterName": cluster}
    of_service = {"ClusterName": cluster, "ServiceName": service}

    # The task reserves 512 units and keeps a whole core (1,024 units) busy: the service's
    # utilization rises far above 50 % (about 200 % on an idle host).
    hot = wait_for(lambda: [p for p in datapoints(cloudwatch, "AWS/ECS", "CPUUtilization", of_service)
                            if p["Average"] > 50.0],
                   "service CPUUtilization above 50 %", timeout=90)
    assert hot[-1]["Unit"] == "Percent"
    # One task: its own utilization is the service's.
    assert hot[-1]["Minimum"] == pytest.approx(hot[-1]["Average"])
    assert hot[-1]["Maximum"] == pytest.approx(hot[-1]["Average"])

    memory = wait_for(lambda: datapoints(cloudwatch, "AWS/ECS", "MemoryUtilization", of_service),
                      "service MemoryUtilization")
    assert all(0.0 < p["Average"] <= 100.0 for p in memory), memory

    # The cluster's utilization is of the instance's registered 4,096 units.
    cluster_cpu = wait_for(lambda: [p for p in datapoints(cloudwatch, "AWS/ECS", "CPUUtilization", of_cluster)
                                    if p["Average"] > 50.0 * TASK_CPU / INSTANCE_CPU],
                           "cluster CPUUtilization")
    assert all(p["Average"] <= 100.0 for p in cluster_cpu)
    assert datapoints(cloudwatch, "AWS/ECS", "MemoryUtilization", of_cluster)

    # Reservations: exactly what the task reserves of what the instance registered.
    reservation = wait_for(lambda: datapoints(cloudwatch, "AWS/ECS", "CPUReservation", of_cluster),
                           "CPUReservation")
    assert {p["Average"] for p in reservation} == {100.0 * TASK_CPU / INSTANCE_CPU}
    memory_reservation = datapoints(cloudwatch, "AWS/ECS", "MemoryReservation", of_cluster)
    assert {p["Average"] for p in memory_reservation} == {100.0 * TASK_MEMORY / INSTANCE_MEMORY}

    metrics = cloudwatch.list_metrics(Namespace="AWS/ECS")["Metrics"]
    named = {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in metrics
             if any(d["Value"] == cluster for d in m["Dimensions"])}
    assert named == {
        ("CPUUtilization", ("ClusterName",)), ("MemoryUtilization", ("ClusterName",)),
        ("CPUReservation", ("ClusterName",)), ("MemoryReservation", ("ClusterName",)),
        ("CPUUtilization", ("ClusterName", "ServiceName")), ("MemoryUtilization", ("ClusterName", "ServiceName")),
    }

    # Container Insights is enabled on this cluster.
    # In CPU units: a second of the burning core (1,024 units) shows above half of one, which
    # a percentage never would. Waited for, not read once: the first
    # datapoints may come from seconds when the machine gave the task less.
    wait_for(lambda: [p for p in datapoints(cloudwatch, "ECS/ContainerInsights", "CpuUtilized", of_service)
                      if p["Maximum"] > 512],
             "Container Insights CpuUtilized above 512 units")
    reserved = datapoints(cloudwatch, "ECS/ContainerInsights", "CpuReserved", of_service)
    assert {p["Average"] for p in reserved} == {float(TASK_CPU)}
    family = datapoints(cloudwatch, "ECS/ContainerInsights", "MemoryReserved",
                        {"ClusterName": cluster, "TaskDefinitionFamily": "burner"})
    assert {(p["Average"], p["Unit"]) for p in family} == {(float(TASK_MEMORY), "Megabytes")}
    running = wait_for(lambda: [p for p in datapoints(cloudwatch, "ECS/ContainerInsights", "RunningTaskCount", of_service)
                                if p["Average"] == 1.0],
                       "RunningTaskCount 1")
    assert running[-1]["Unit"] == "Count"
    assert datapoints(cloudwatch, "ECS/ContainerInsights", "DesiredTaskCount", of_service)[-1]["Average"] == 1.0

    # Prometheus: the task's container, labelled with its cluster, service and task id.
    task_id = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"][0].rsplit("/", 1)[1]

    def scraped():
        text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
        lines = [line for line in text.splitlines()
                 if f'task_id="{task_id}"' in line and f'cluster="{cluster}"' in line]
        cpu = [line for line in lines if line.startswith("berth_task_cpu_units{")]
        memory = [line for line in lines if line.startswith("berth_task_memory_bytes{")]
        return (cpu, memory) if cpu and memory else None

    cpu, memory = wait_for(scraped, "per-task figures on /metrics")
    assert f'service="{service}"' in cpu[0] and 'container="burn"' in cpu[0], cpu
    assert float(cpu[0].rsplit(" ", 1)[1]) > 256.0, cpu
    assert float(memory[0].rsplit(" ", 1)[1]) > 0.0, memory


def test_a_cluster_without_container_insights_gets_only_aws_ecs(server, berth_binary, demo_image):
    with cluster_with_agent(server, berth_binary) as (cluster, ecs):
        ecs.register_task_definition(family="idle", containerDefinitions=[{
            "name": "web", "image": "berth-demo:latest", "memory": 64, "cpu": 256}])
        ecs.run_task(cluster=cluster, taskDefinition="idle")
        cloudwatch = server.client("cloudwatch")
        of_cluster = {"ClusterName": cluster}
        # A task outside services: the cluster's metrics, no service's.
        memory = wait_for(lambda: datapoints(cloudwatch, "AWS/ECS", "MemoryUtilization", of_cluster),
                          "cluster MemoryUtilization", timeout=60)
        assert memory[-1]["Average"] > 0.0
        reservation = wait_for(lambda: datapoints(cloudwatch, "AWS/ECS", "MemoryReservation", of_cluster),
                               "MemoryReservation")
        assert {p["Average"] for p in reservation} == {100.0 * 64 / INSTANCE_MEMORY}
        insights = cloudwatch.list_metrics(Namespace="ECS/ContainerInsights",
                                           Dimensions=[{"Name": "ClusterName", "Value": cluster}])["Metrics"]
        assert insights == []
