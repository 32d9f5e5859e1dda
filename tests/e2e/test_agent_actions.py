"""The agent-facing ECS actions through boto3, as a third-party agent uses them: an instance
registered with RegisterContainerInstance, its endpoint found with DiscoverPollEndpoint, its
agent's channel held (Berth's counterpart of ECS's agent communication service, so that ECS
places tasks on it), and its task driven through Submit*StateChange — forward only."""

import base64
import json
import os
import queue
import socket
import struct
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import sign

CONNECT_PATH = "/agent/v1/connect"
IDENTITY = json.dumps({"instanceId": "i-0abc1234def567890", "region": "us-east-1"})


def resources(cpu, memory):
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]


class Channel:
    """The agent channel, spoken by hand (RFC 6455 frames, masked as a client must): a SigV4-signed
    upgrade, the registration, and pongs for the server's pings on a reader thread."""

    def __init__(self, berth, register):
        self.sock = socket.create_connection(("127.0.0.1", berth.port), timeout=10)
        signed = sign("GET", berth.url + CONNECT_PATH, b"", {})
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {CONNECT_PATH} HTTP/1.1", f"Host: 127.0.0.1:{berth.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in signed.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        self.messages = queue.Queue()
        self.send(0x1, json.dumps(register).encode())
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("channel closed")
            data += chunk
        return data

    def read(self):
        self.sock.settimeout(None)
        try:
            while True:
                first, second = self.exactly(2)
                length = second & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self.exactly(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self.exactly(8))[0]
                payload = self.exactly(length)
                opcode = first & 0x0F
                if opcode == 0x9:
                    self.send(0xA, payload)
                elif opcode == 0x1:
                    self.messages.put(json.loads(payload))
                elif opcode == 0x8:
                    return
        except (ConnectionError, OSError):
            return

    def next_message(self):
        return self.messages.get(timeout=10)

    def close(self):
        try:
            self.send(0x8, b"")
        except OSError:
            pass
        self.sock.close()


def error_code(call, **kwargs):
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def describe_task(ecs, cluster, arn):
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def instance(ecs, cluster, arn):
    return ecs.describe_container_instances(cluster=cluster, containerInstances=[arn],
                                           include=["TAGS"])["containerInstances"][0]


def remaining(described):
    return {r["name"]: r.get("integerValue") for r in described["remainingResources"]
            if r["name"] in ("CPU", "MEMORY")}


def test_an_instance_registered_through_the_api_and_its_task_driven_by_submitted_state_changes(berth, ecs):
    cluster = f"t-{uuid.uuid4().hex[:10]}"
    ecs.create_cluster(clusterName=cluster)
    registered = ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=IDENTITY, totalResources=resources(2048, 4096),
        attributes=[{"name": "stack", "value": "blue"}],
        versionInfo={"agentVersion": "1.99.0", "agentHash": "4023248", "dockerVersion": "DockerVersion: 25.0.3"},
        platformDevices=[{"id": "GPU-0", "type": "GPU"}],
        tags=[{"key": "team", "value": "storage"}],
    )["containerInstance"]
    arn = registered["containerInstanceArn"]
    assert arn.startswith(f"arn:aws:ecs:us-east-1:000000000000:container-instance/{cluster}/")
    assert registered["status"] == "ACTIVE"
    assert registered["agentConnected"] is False
    assert registered["ec2InstanceId"] == "i-0abc1234def567890"
    assert registered["versionInfo"]["agentVersion"] == "1.99.0"
    assert {"name": "stack", "value": "blue"} in registered["attributes"]
    assert registered["tags"] == [{"key": "team", "value": "storage"}]
    assert remaining(registered) == {"CPU": 2048, "MEMORY": 4096}
    assert instance(ecs, cluster, arn)["tags"] == [{"key": "team", "value": "storage"}]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "storage"}]
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == [arn]

    poll = ecs.discover_poll_endpoint(cluster=cluster, containerInstance=arn)
    assert poll["endpoint"] == berth.url + "/"
    assert poll["telemetryEndpoint"] == berth.url + "/"

    ecs.register_task_definition(family="third", containerDefinitions=[
        {"name": "web", "image": "berth-demo:latest", "memory": 256, "cpu": 256,
         "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
    # ECS places nothing on an instance whose agent is not connected.
    refused = ecs.run_task(cluster=cluster, taskDefinition="third")
    assert refused["tasks"] == []
    assert [(f["arn"], f["reason"]) for f in refused["failures"]] == [(arn, "AGENT")]

    # Re-registering with the ARN keeps the instance and refreshes what it offers.
    again = ecs.register_container_instance(
        cluster=cluster, containerInstanceArn=arn, instanceIdentityDocument=IDENTITY,
        totalResources=resources(4096, 8192), attributes=[{"name": "stack", "value": "green"}],
        versionInfo={"agentVersion": "1.100.0"})["containerInstance"]
    assert again["containerInstanceArn"] == arn
    assert again["version"] > registered["version"]
    assert {"name": "stack", "value": "green"} in again["attributes"]
    assert remaining(again) == {"CPU": 4096, "MEMORY": 8192}
    assert again["agentConnected"] is False
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == [arn]

    # The agent holds its channel (as ECS's agent holds its ACS connection): now ECS places.
    channel = Channel(berth, {"type": "register", "cluster": cluster, "containerInstanceArn": arn,
                              "hostId": "i-0abc1234def567890", "totalResources": resources(4096, 8192),
                              "attributes": [], "versionInfo": {"agentVersion": "1.100.0"}})
    try:
        assert channel.next_message()["containerInstanceArn"] == arn
        assert instance(ecs, cluster, arn)["agentConnected"] is True
        task = ecs.run_task(cluster=cluster, taskDefinition="third")["tasks"][0]
        task_arn = task["taskArn"]
        assert task["containerInstanceArn"] == arn
        assert remaining(instance(ecs, cluster, arn)) == {"CPU": 4096 - 256, "MEMORY": 8192 - 256}

        binding = {"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 32768, "protocol": "tcp"}
        ack = ecs.submit_container_state_change(cluster=cluster, task=task_arn, containerName="web",
                                                runtimeId="c0ffee", status="RUNNING", networkBindings=[binding])
        assert ack["acknowledgment"] == "ACK"
        container = describe_task(ecs, cluster, task_arn)["containers"][0]
        assert (container["lastStatus"], container["runtimeId"], container["networkBindings"]) == \
            ("RUNNING", "c0ffee", [binding])

        ecs.submit_task_state_change(cluster=cluster, task=task_arn, status="RUNNING",
                                     pullStartedAt=1_700_000_000, pullStoppedAt=1_700_000_001)
        running = describe_task(ecs, cluster, task_arn)
        assert running["lastStatus"] == "RUNNING"
        assert "startedAt" in running and running["pullStartedAt"].timestamp() == 1_700_000_000

        # A report from the past changes nothing.
        ecs.submit_task_state_change(cluster=cluster, task=task_arn, status="PENDING")
        ecs.submit_container_state_change(cluster=cluster, task=task_arn, containerName="web", status="PENDING")
        unchanged = describe_task(ecs, cluster, task_arn)
        assert unchanged["lastStatus"] == "RUNNING"
        assert unchanged["containers"][0]["lastStatus"] == "RUNNING"
        assert unchanged["version"] == running["version"]

        ecs.submit_task_state_change(
            cluster=cluster, task=task_arn, status="STOPPED", reason="Essential container in task exited",
            executionStoppedAt=1_700_000_100,
            containers=[{"containerName": "web", "status": "STOPPED", "exitCode": 3, "reason": "exit 3",
                         "runtimeId": "c0ffee", "networkBindings": [binding]}])
        stopped = describe_task(ecs, cluster, task_arn)
        assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
        assert stopped["stopCode"] == "EssentialContainerExited"
        assert stopped["stoppedReason"] == "Essential container in task exited"
        [container] = stopped["containers"]
        assert (container["lastStatus"], container["exitCode"], container["reason"]) == ("STOPPED", 3, "exit 3")
        assert container["networkBindings"] == [binding]
        # What the task held is back on the instance.
        assert remaining(instance(ecs, cluster, arn)) == {"CPU": 4096, "MEMORY": 8192}

        ecs.submit_task_state_change(cluster=cluster, task=task_arn, status="RUNNING")
        assert describe_task(ecs, cluster, task_arn)["lastStatus"] == "STOPPED"
    finally:
        channel.close()


def test_agent_action_errors(berth, ecs):
    cluster = f"t-{uuid.uuid4().hex[:10]}"
    ecs.create_cluster(clusterName=cluster)
    arn = ecs.register_container_instance(cluster=cluster, totalResources=resources(1024, 1024))[
        "containerInstance"]["containerInstanceArn"]
    assert instance(ecs, cluster, arn)["ec2InstanceId"].startswith("i-")

    for call, kwargs in [
        (ecs.register_container_instance, {"totalResources": resources(1, 1)}),
        (ecs.discover_poll_endpoint, {}),
        (ecs.submit_task_state_change, {"task": "0" * 32, "status": "RUNNING"}),
        (ecs.submit_container_state_change, {"task": "0" * 32, "containerName": "web"}),
        (ecs.submit_attachment_state_changes, {"attachments": []}),
    ]:
        assert error_code(call, cluster="nowhere", **kwargs)[0] == "ClusterNotFoundException", call

    code, message = error_code(ecs.submit_task_state_change, cluster=cluster, task="0" * 32, status="RUNNING")
    assert (code, message) == ("InvalidParameterException", "The referenced task was not found.")
    assert error_code(ecs.submit_task_state_change, cluster=cluster, task="0" * 32, status="SLEEPING")[0] == \
        "InvalidParameterException"
    attachment = "arn:aws:ecs:us-east-1:000000000000:attachment/" + str(uuid.uuid4())
    assert error_code(ecs.submit_attachment_state_changes, cluster=cluster,
                      attachments=[{"attachmentArn": attachment, "status": "ATTACHED"}])[0] == \
        "InvalidParameterException"
    assert error_code(ecs.submit_attachment_state_changes, cluster=cluster,
                      attachments=[{"attachmentArn": attachment, "status": "GLUED"}])[0] == \
        "InvalidParameterException"
    other = arn.replace(f"/{cluster}/", "/elsewhere/")
    assert error_code(ecs.register_container_instance, cluster=cluster, containerInstanceArn=other,
                      totalResources=resources(1, 1))[0] == "InvalidParameterException"
    # A bad request changes nothing: still the one instance.
    assert ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == [arn]
