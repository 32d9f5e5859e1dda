"""The API fuzz driver (tests/e2e/api_fuzz.py) against a real `berth server`: every ECS action of
botocore's model with seeded random valid and invalid inputs. No call may answer 5xx, every error
must be an AWS JSON error with an ECS error code (SerializationException for malformed bodies and
wrong member types), and no failed call may change the store. bench/api_fuzz.sh runs the same
driver for 100,000 calls against a release build."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_fuzz  # noqa: E402


def test_random_valid_and_invalid_calls_never_fail_the_server_nor_change_state_when_refused(
        berth, berth_binary, capsys):
    status = api_fuzz.main([
        "--url", berth.url, "--berth", str(berth_binary), "--credentials", str(berth.data_dir / "credentials"),
        "--calls", "2000", "--seed", "16", "--quiet-calls", "400", "--check-every", "10"])
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1]
    assert status == 0, out.err + last
    assert last.startswith("api_fuzz_calls: 2000 (5xx: 0, failed calls that changed state: 0, calls/s: "), last


def test_an_arn_of_another_region_or_account_names_nothing_here_and_changes_nothing(berth):
    """ECS answers InvalidParameterException "Invalid Region in ARN" for an ECS ARN of another region,
    and takes no ARN of another account or of another kind of resource for a service, task or container
    instance: before, only the ARN's last part was read, so UpdateService on
    arn:aws:ecs:eu-west-1:…:cluster/web updated the service web of the default cluster. An account
    setting's principalArn is a principal of this account (root, IAM user or role), not any string."""
    ecs = berth.client()
    ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": "berth-demo:latest", "memory": 32}])
    ecs.create_cluster(clusterName="default")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=0)
    here = "arn:aws:ecs:us-east-1:000000000000"
    task = f"{here}:task/default/0123456789abcdef0123456789abcdef"
    instance = f"{here}:container-instance/default/0123456789abcdef0123456789abcdef"
    cases = [
        ("UpdateService", {"service": "arn:aws:ecs:eu-west-1:000000000000:service/default/web", "desiredCount": 3},
         "Invalid Region in ARN"),
        ("UpdateService", {"service": "arn:aws:ecs:us-east-1:123456789012:service/default/web", "desiredCount": 3},
         "Invalid ARN: arn:aws:ecs:us-east-1:123456789012:service/default/web"),
        ("UpdateService", {"service": f"{here}:cluster/web", "desiredCount": 3}, f"Invalid service ARN: {here}:cluster/web"),
        ("DeleteService", {"service": "arn:aws:ecs:eu-west-1:000000000000:service/default/web", "force": True},
         "Invalid Region in ARN"),
        ("DescribeServices", {"services": ["arn:aws:ecs:eu-west-1:000000000000:service/default/web"]},
         "Invalid Region in ARN"),
        ("StopTask", {"task": task.replace("us-east-1", "us-west-2")}, "Invalid Region in ARN"),
        ("DescribeTasks", {"tasks": [task.replace("000000000000", "123456789012")]}, "Invalid ARN: "),
        ("DescribeContainerInstances", {"containerInstances": [instance.replace("us-east-1", "ap-south-1")]},
         "Invalid Region in ARN"),
        ("DeregisterContainerInstance", {"containerInstance": f"{here}:task/default/x"},
         f"Invalid container-instance ARN: {here}:task/default/x"),
        ("PutAccountSetting", {"name": "awsvpcTrunking", "value": "enabled",
                               "principalArn": "arn:aws:iam::123456789012:user/dev"},
         "Invalid principalArn: arn:aws:iam::123456789012:user/dev."),
        ("PutAccountSetting", {"name": "awsvpcTrunking", "value": "enabled", "principalArn": f"{here}:cluster/q"},
         f"Invalid principalArn: {here}:cluster/q."),
    ]
    for operation, body, message in cases:
        status, error = berth.raw(operation, json.dumps(body).encode())
        assert (status, error["__type"]) == (400, "InvalidParameterException"), (operation, error)
        assert error["message"].startswith(message), (operation, error)
    assert ecs.list_account_settings(principalArn="arn:aws:iam::000000000000:root")["settings"] == []
    service = ecs.describe_services(services=["web"])["services"][0]
    assert (service["status"], service["desiredCount"]) == ("ACTIVE", 0)
