"""ECS tasks behind Elastic Load Balancing: target groups of type `instance` reach a task through
its container instance's address (where the instance's agent connects from) and the host port
Docker published for it, on real Docker with the berth-demo image."""

import http.client
import time

from botocore.exceptions import ClientError

from conftest import free_port
from test_tasks import cluster, demo_image, describe, register, wait_for, wait_status  # noqa: F401 (fixtures)


def status_through(port, host):
    """The status of a GET through the listener, or None while nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def health_of(elbv2, target_group_arn):
    return [(d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"])
            for d in elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]]


def test_an_instance_target_reaches_a_task_on_its_dynamic_host_port(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    definition = register(ecs, family="lb-web", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    task = ecs.run_task(cluster=name, taskDefinition=definition["taskDefinitionArn"])["tasks"][0]
    running = wait_status(ecs, name, task["taskArn"], "RUNNING")
    host_port = running["containers"][0]["networkBindings"][0]["hostPort"]
    instance = ecs.describe_container_instances(
        cluster=name, containerInstances=[running["containerInstanceArn"]])["containerInstances"][0]
    instance_id = instance["ec2InstanceId"]

    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elbv2.create_load_balancer(Name="tasks")["LoadBalancers"][0]
    group = elbv2.create_target_group(
        Name="tasks", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]
    arn = group["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": host_port}])
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])

    # The instance's address is known (its agent connected from loopback), so the data plane
    # checks the task's host port and forwards to it.
    wait_for(lambda: health_of(elbv2, arn) == [(instance_id, host_port, "healthy")], "the task's target to be healthy")
    assert status_through(port, lb["DNSName"]) == 200

    # An instance whose agent never connected has no address: its target gets no traffic.
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0", "Port": host_port}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": host_port}])
    wait_for(lambda: status_through(port, lb["DNSName"]) == 503, "no reachable target left")


def target_group_behind_listener(berth, name):
    """A load balancer with an HTTP listener forwarding to a new `instance` target group;
    returns (target group ARN, listener port, DNS name)."""
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elbv2.create_load_balancer(Name=name)["LoadBalancers"][0]
    arn = elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    return arn, port, lb["DNSName"]


def error_of(call):
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def test_create_service_checks_its_load_balancers_as_ecs_does(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    definition = register(ecs, family="lb-checks")["taskDefinitionArn"]
    arn, _, _ = target_group_behind_listener(berth, "checked")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    unused = elbv2.create_target_group(Name="unused", Protocol="HTTP", Port=80, VpcId=vpc,
                                       TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]

    def create(**balancer):
        entry = {"targetGroupArn": arn, "containerName": "web", "containerPort": 8080, **balancer}
        return lambda: ecs.create_service(cluster=name, serviceName="checked", taskDefinition=definition,
                                          desiredCount=0, loadBalancers=[entry])

    assert error_of(create(containerName="api")) == (
        "InvalidParameterException", "The container api does not exist in the task definition.")
    assert error_of(create(containerPort=80)) == (
        "InvalidParameterException", "The container web did not have a container port 80 defined.")
    assert error_of(create(targetGroupArn=unused)) == (
        "InvalidParameterException",
        f"The target group with targetGroupArn {unused} does not have an associated load balancer.")
    missing = arn.replace("/checked/", "/missing/")
    assert error_of(create(targetGroupArn=missing))[0] == "InvalidParameterException"

    created = create()()["service"]
    assert created["loadBalancers"] == [{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}]
    described = ecs.describe_services(cluster=name, services=["checked"])["services"][0]
    assert described["loadBalancers"] == created["loadBalancers"]


def test_a_service_registers_its_tasks_and_deregisters_them_on_scale_in(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2 = berth.client("elbv2")
    definition = register(ecs, family="lb-svc", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    arn, port, dns = target_group_behind_listener(berth, "svc")
    ecs.create_service(cluster=name, serviceName="web", taskDefinition=definition["taskDefinitionArn"],
                       desiredCount=2,
                       loadBalancers=[{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}])

    def states():
        return sorted(state for _, _, state in health_of(elbv2, arn))

    wait_for(lambda: states() == ["healthy", "healthy"], "both tasks' targets to be healthy", timeout=60)
    assert status_through(port, dns) == 200
    events = [e["message"] for e in ecs.describe_services(cluster=name, services=["web"])["services"][0]["events"]]
    # Both tasks in one pass, or one at a time (a repeat of the newest event is not written again).
    assert {f"(service web) registered {n} targets in (target-group {arn})" for n in (1, 2)} & set(events), events

    ecs.update_service(cluster=name, service="web", desiredCount=1)
    wait_for(lambda: states() == ["draining", "healthy"], "the stopped task's target to drain")
    # While its target drains, the task keeps running, DEACTIVATING; then it is stopped.
    arns = ecs.list_tasks(cluster=name, serviceName="web", desiredStatus="RUNNING")["taskArns"]
    draining = [t for t in ecs.describe_tasks(cluster=name, tasks=arns)["tasks"] if t["lastStatus"] == "DEACTIVATING"]
    assert len(draining) == 1, arns
    assert draining[0]["desiredStatus"] == "RUNNING"
    assert draining[0]["stoppedReason"].startswith("Scaling activity initiated by (deployment ")
    wait_for(lambda: states() == ["healthy"], "the drained target to leave the group", timeout=30)
    stopped = wait_for(lambda: (t := describe(ecs, name, draining[0]["taskArn"]))["lastStatus"] == "STOPPED" and t,
                       "the drained task to stop")
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert status_through(port, dns) == 200
    events = [e["message"] for e in ecs.describe_services(cluster=name, services=["web"])["services"][0]["events"]]
    assert f"(service web) deregistered 1 targets in (target-group {arn})" in events, events


def test_a_task_failing_elb_health_checks_is_replaced(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    definition = register(ecs, family="lb-sick", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elbv2.create_load_balancer(Name="sick")["LoadBalancers"][0]
    # berth-demo answers 404 on this path: its targets never pass a check.
    arn = elbv2.create_target_group(
        Name="sick", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPath="/missing",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=free_port(),
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    ecs.create_service(cluster=name, serviceName="sick", taskDefinition=definition["taskDefinitionArn"],
                       desiredCount=1, healthCheckGracePeriodSeconds=0,
                       loadBalancers=[{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}])

    def stopped_tasks():
        arns = ecs.list_tasks(cluster=name, serviceName="sick", desiredStatus="STOPPED")["taskArns"]
        return arns and ecs.describe_tasks(cluster=name, tasks=arns)["tasks"]

    stopped = wait_for(stopped_tasks, "the unhealthy task to be stopped", timeout=60)[0]
    assert stopped["stoppedReason"] == f"Task failed ELB health checks in (target-group {arn})"
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    task_id = stopped["taskArn"].rsplit("/", 1)[1]
    events = [e["message"] for e in ecs.describe_services(cluster=name, services=["sick"])["services"][0]["events"]]
    unhealthy = [m for m in events if m.startswith(f"(service sick) (task {task_id}) (instance i-")]
    assert unhealthy and "is unhealthy in (target-group sick) due to (reason " in unhealthy[0], events
    # It is replaced.
    wait_for(lambda: any(t["taskArn"] != stopped["taskArn"] for t in
                         ecs.describe_tasks(cluster=name, tasks=ecs.list_tasks(cluster=name, serviceName="sick")["taskArns"] or [stopped["taskArn"]])["tasks"]),
             "a replacement task")


def test_a_rolling_deployment_under_load_answers_every_request(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    definition = register(ecs, family="lb-roll", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    arn, port, dns = target_group_behind_listener(berth, "roll")
    ecs.create_service(cluster=name, serviceName="roll", taskDefinition=definition["taskDefinitionArn"],
                       desiredCount=2,
                       loadBalancers=[{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}])
    elbv2 = berth.client("elbv2")
    wait_for(lambda: sorted(s for _, _, s in health_of(elbv2, arn)) == ["healthy", "healthy"],
             "both targets healthy", timeout=60)
    deployment = ecs.update_service(cluster=name, service="roll", forceNewDeployment=True)["service"]["deployments"][0]["id"]

    def completed():
        deployments = ecs.describe_services(cluster=name, services=["roll"])["services"][0]["deployments"]
        return len(deployments) == 1 and deployments[0]["id"] == deployment \
            and deployments[0]["rolloutState"] == "COMPLETED"

    statuses = {}
    deadline = time.monotonic() + 120
    sent = 0
    while time.monotonic() < deadline:
        status = status_through(port, dns)
        statuses[status] = statuses.get(status, 0) + 1
        sent += 1
        if sent % 50 == 0 and completed():
            break
    assert completed(), statuses
    assert set(statuses) == {200}, statuses


def test_instance_targets_carry_traffic_again_after_a_server_restart(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2 = berth.client("elbv2")
    definition = register(ecs, family="lb-restart", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    task = ecs.run_task(cluster=name, taskDefinition=definition["taskDefinitionArn"])["tasks"][0]
    running = wait_status(ecs, name, task["taskArn"], "RUNNING")
    host_port = running["containers"][0]["networkBindings"][0]["hostPort"]
    instance_id = ecs.describe_container_instances(
        cluster=name, containerInstances=[running["containerInstanceArn"]])["containerInstances"][0]["ec2InstanceId"]
    arn, port, dns_name = target_group_behind_listener(berth, "restart")
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": host_port}])
    wait_for(lambda: status_through(port, dns_name) == 200, "traffic to the task")

    # The instance's address is learnt again when its agent reconnects, which changes no
    # load balancer record.
    berth.kill9()
    berth.start()
    wait_for(lambda: status_through(port, dns_name) == 200, "traffic to the task after the restart", timeout=60)


def targets_by_state(elbv2, arn):
    return sorted(state for _, _, state in health_of(elbv2, arn))


def service_of(ecs, cluster_name, service):
    return ecs.describe_services(cluster=cluster_name, services=[service])["services"][0]


def test_update_service_moves_tasks_to_new_target_groups_and_removes_them(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2 = berth.client("elbv2")
    definition = register(ecs, family="lb-move", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    first, first_port, first_dns = target_group_behind_listener(berth, "first")
    second, second_port, second_dns = target_group_behind_listener(berth, "second")

    def entry(arn, **changed):
        return {"targetGroupArn": arn, "containerName": "web", "containerPort": 8080, **changed}

    ecs.create_service(cluster=name, serviceName="move", taskDefinition=definition["taskDefinitionArn"],
                       desiredCount=1, loadBalancers=[entry(first)])
    wait_for(lambda: targets_by_state(elbv2, first) == ["healthy"], "the task healthy in the first group", timeout=60)

    # ECS's checks, as CreateService makes them; nothing changes.
    def update(load_balancers):
        return lambda: ecs.update_service(cluster=name, service="move", loadBalancers=load_balancers)

    assert error_of(update([entry(second, containerName="api")])) == (
        "InvalidParameterException", "The container api does not exist in the task definition.")
    assert error_of(update([entry(second)] * 6)) == (
        "InvalidParameterException", "load balancers can have at most 5 items.")
    assert error_of(update([entry(second.replace("/second/", "/missing/"))])) == (
        "InvalidParameterException",
        "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service "
        "role being passed has the proper permissions.")
    # Only the ECS (rolling update) deployment controller changes load balancers this way, and
    # it is the only one Berth runs.
    assert error_of(lambda: ecs.update_service(cluster=name, service="move", loadBalancers=[entry(second)],
                                               deploymentController={"type": "CODE_DEPLOY"}))[0] == \
        "UnsupportedFeatureException"
    assert len(service_of(ecs, name, "move")["deployments"]) == 1

    # A new deployment registers its task in the second group; the old task stays in the first
    # until it is drained and stopped.
    updated = update([entry(second)])()["service"]
    assert updated["loadBalancers"] == [entry(second)]
    moved = updated["deployments"][0]["id"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    wait_for(lambda: targets_by_state(elbv2, second) == ["healthy"], "the new task healthy in the second group",
             timeout=60)
    assert status_through(second_port, second_dns) == 200
    wait_for(lambda: targets_by_state(elbv2, first) == [], "the old task's target to drain and leave", timeout=60)
    wait_for(lambda: [d["id"] for d in service_of(ecs, name, "move")["deployments"]] == [moved],
             "the old deployment to finish", timeout=60)
    assert status_through(first_port, first_dns) == 503
    events = [e["message"] for e in service_of(ecs, name, "move")["events"]]
    assert f"(service move) registered 1 targets in (target-group {second})" in events, events
    assert f"(service move) deregistered 1 targets in (target-group {first})" in events, events
    revision = ecs.describe_service_revisions(
        serviceRevisionArns=[service_of(ecs, name, "move")["currentServiceRevisions"][0]["arn"]]
    )["serviceRevisions"][0]
    assert revision["loadBalancers"] == [entry(second)]

    # `loadBalancers: []` removes them: the next deployment's task is in no group.
    emptied = update([])()["service"]
    assert emptied["loadBalancers"] == []
    assert len(emptied["deployments"]) == 2
    wait_for(lambda: targets_by_state(elbv2, second) == [], "the last target to leave", timeout=120)
    # The old task stays desired RUNNING (DEACTIVATING) until its drain delay has passed.
    def desired_running():
        return ecs.list_tasks(cluster=name, serviceName="move", desiredStatus="RUNNING")["taskArns"]
    wait_for(lambda: len(desired_running()) == 1, "the drained task to be asked to stop", timeout=60)
    running = desired_running()
    assert len(running) == 1
    assert describe(ecs, name, running[0])["startedBy"] == emptied["deployments"][0]["id"]


def test_tasks_failing_elb_health_checks_trip_the_circuit_breaker_and_roll_back(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    definition = register(ecs, family="lb-breaker", portMappings=[{"containerPort": 8080, "hostPort": 0}])
    good, _, _ = target_group_behind_listener(berth, "good")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elbv2.create_load_balancer(Name="failing")["LoadBalancers"][0]
    # berth-demo answers 404 on this path: its targets never pass a check.
    failing = elbv2.create_target_group(
        Name="failing", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPath="/missing",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=failing, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=free_port(),
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": failing}])

    def entry(arn):
        return {"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}

    ecs.create_service(cluster=name, serviceName="breaker", taskDefinition=definition["taskDefinitionArn"],
                       desiredCount=1, loadBalancers=[entry(good)],
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    wait_for(lambda: service_of(ecs, name, "breaker")["deployments"][0]["rolloutState"] == "COMPLETED",
             "the first deployment to complete", timeout=90)
    failed_id = ecs.update_service(cluster=name, service="breaker",
                                   loadBalancers=[entry(failing)])["service"]["deployments"][0]["id"]

    # Three tasks replaced for failing ELB health checks (ECS's threshold for one task) fail the
    # deployment; the rollback restores the previous revision's target group.
    def rolled_back():
        deployments = service_of(ecs, name, "breaker")["deployments"]
        failed = [d for d in deployments if d["id"] == failed_id]
        return failed and failed[0]["rolloutState"] == "FAILED" and deployments[0]["id"] != failed_id

    wait_for(rolled_back, "the circuit breaker to roll back", timeout=180)
    service = service_of(ecs, name, "breaker")
    failed = [d for d in service["deployments"] if d["id"] == failed_id][0]
    assert failed["failedTasks"] >= 3, failed
    assert service["loadBalancers"] == [entry(good)]
    stopped = ecs.list_tasks(cluster=name, serviceName="breaker", desiredStatus="STOPPED")["taskArns"]
    reasons = {t["stoppedReason"] for t in ecs.describe_tasks(cluster=name, tasks=stopped)["tasks"]
               if t["startedBy"] == failed_id}
    assert f"Task failed ELB health checks in (target-group {failing})" in reasons, reasons
    wait_for(lambda: service_of(ecs, name, "breaker")["deployments"][0]["rolloutState"] == "COMPLETED",
             "the rollback to complete", timeout=90)
    assert targets_by_state(elbv2, good) == ["healthy"]

    # Failing again rolls back to the completed rollback, which restores the same revision.
    failed_id = ecs.update_service(cluster=name, service="breaker",
                                   loadBalancers=[entry(failing)])["service"]["deployments"][0]["id"]
    wait_for(rolled_back, "the circuit breaker to roll back again", timeout=180)
    assert service_of(ecs, name, "breaker")["loadBalancers"] == [entry(good)]


def test_a_target_group_a_service_uses_behind_a_listener_cannot_be_deleted(berth, cluster):  # noqa: F811
    name, ecs, _, _ = cluster
    elbv2 = berth.client("elbv2")
    definition = register(ecs, family="lb-keep")["taskDefinitionArn"]
    arn, _, _ = target_group_behind_listener(berth, "kept")
    ecs.create_service(cluster=name, serviceName="kept", taskDefinition=definition, desiredCount=0,
                       loadBalancers=[{"targetGroupArn": arn, "containerName": "web", "containerPort": 8080}])
    try:
        elbv2.delete_target_group(TargetGroupArn=arn)
    except ClientError as err:
        assert (err.response["Error"]["Code"], err.response["Error"]["Message"]) == (
            "ResourceInUse", f"Target group '{arn}' is currently in use by a listener or a rule")
    else:
        raise AssertionError("the group was deleted")
    # As on AWS, only listeners and rules hold a group: a service's use alone does not.
    listener = elbv2.describe_listeners(
        LoadBalancerArn=elbv2.describe_load_balancers(Names=["kept"])["LoadBalancers"][0]["LoadBalancerArn"]
    )["Listeners"][0]["ListenerArn"]
    elbv2.delete_listener(ListenerArn=listener)
    elbv2.delete_target_group(TargetGroupArn=arn)
