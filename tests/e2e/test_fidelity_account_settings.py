"""Account settings answer exactly as ECS writes them: each case is a request and the full
response the AWS CLI reference's examples (awscli/examples/ecs/*account-setting*.rst) show for it,
or ECS's own error for a bad request. Those examples predate the `type` member the model has
since added; ECS shows a setting someone put as `"type": "user"`."""

import pytest

from fidelity import ACCOUNT, error, outcome

USER = f"arn:aws:iam::{ACCOUNT}:user/MyUser"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
PUT_USER = ("put_account_setting", {"name": "serviceLongArnFormat", "value": "enabled", "principalArn": USER})


def setting(name, value, principal):
    return {"name": name, "value": value, "principalArn": principal, "type": "user"}


# (name, calls made first, operation, request, expected answer)
CASES = [
    # put-account-settings.rst: "To modify the account settings for an IAM user or IAM role".
    ("put", [], *PUT_USER, {"setting": setting("serviceLongArnFormat", "enabled", USER)}),
    # put-account-setting-default.rst: "To modify the default account settings".
    ("put-default", [], "put_account_setting_default", {"name": "serviceLongArnFormat", "value": "enabled"},
     {"setting": setting("serviceLongArnFormat", "enabled", ROOT)}),
    # list-account-settings.rst Example 2: the settings of one IAM user.
    ("list-for-user", [PUT_USER], "list_account_settings", {"principalArn": USER},
     {"settings": [setting("serviceLongArnFormat", "enabled", USER)]}),
    # delete-account-setting.rst: the deleted setting comes back.
    ("delete", [PUT_USER], "delete_account_setting", {"name": "serviceLongArnFormat", "principalArn": USER},
     {"setting": setting("serviceLongArnFormat", "enabled", USER)}),
    # ECS's words for a value a setting does not take (aws/aws-cli#3785: `ENABLED`;
    # hashicorp/terraform-provider-aws#32114: tagResourceAuthorization takes on/off).
    ("put-upper-case-value", [], "put_account_setting", {"name": "taskLongArnFormat", "value": "ENABLED"},
     error("InvalidParameterException", "Invalid setting 'value'")),
    ("put-default-wrong-kind-of-value", [], "put_account_setting_default",
     {"name": "tagResourceAuthorization", "value": "enabled"},
     error("InvalidParameterException", "Invalid setting 'value'")),
    # A setting name ECS does not have gets ECS's words for the member it refuses, as a value
    # does ("Invalid setting 'value'" above), not the model's generic enum message.
    ("put-unknown-name", [], "put_account_setting", {"name": "fooLongArnFormat", "value": "enabled"},
     error("InvalidParameterException", "Invalid setting 'name'")),
    ("put-default-unknown-name", [], "put_account_setting_default", {"name": "fooLongArnFormat", "value": "enabled"},
     error("InvalidParameterException", "Invalid setting 'name'")),
    ("delete-unknown-name", [], "delete_account_setting", {"name": "fooLongArnFormat"},
     error("InvalidParameterException", "Invalid setting 'name'")),
    ("list-unknown-name", [], "list_account_settings", {"name": "fooLongArnFormat"},
     error("InvalidParameterException", "Invalid setting 'name'")),
]


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_account_setting_answers_as_ecs_writes_them(ecs, name, setup, operation, request_, expected):
    for step, arguments in setup:
        getattr(ecs, step)(**arguments)
    assert outcome(ecs, operation, request_) == expected
