"""Issue 15's template half: what a deployed stack does when things go wrong. Each check
reads template.yaml (as the local stack does) and would fail on the template before it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from messaggio_local.resolve import Context
from messaggio_local.template import ROOT, resource, template
from tests.template.conftest import actions, functions, parameter, resources, statements

MEDIA_BUCKET_ARN = "arn:${AWS::Partition}:s3:::${AWS::StackName}-media-${AWS::AccountId}"


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


# -- 1. alarms can notify --------------------------------------------------------------------


def test_the_alarm_topic_has_a_key_cloudwatch_may_use() -> None:
    """alias/aws/sns's policy does not let CloudWatch use it: alarms could not publish."""
    topic = resource("AlarmTopic")["Properties"]
    assert topic["KmsMasterKeyId"] == ref("AlarmTopicKey")
    key = resource("AlarmTopicKey")
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    policy = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and cloudwatch[0]["Effect"] == "Allow"
    assert set(actions(cloudwatch[0])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    admin = [s for s in policy if s["Principal"] == {"AWS": {"Fn::Sub": ROOT_ARN}}]
    assert admin and admin[0]["Action"] == "kms:*", "the account must keep administering it"


ROOT_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"


def test_every_alarm_publishes_to_the_topic_and_the_topic_is_an_output() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [ref("AlarmTopic")], name
    assert template()["Outputs"]["AlarmTopicArn"]["Value"] == ref("AlarmTopic")


# -- 5. log groups expire and go with the stack ---------------------------------------------


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_function_logs_to_a_group_of_the_stack(name: str) -> None:
    """A new function copies the pattern: <Function>Logs, LoggingConfig.LogGroup."""
    config = functions()[name]["Properties"].get("LoggingConfig", {})
    group = config.get("LogGroup")
    assert group == ref(f"{name}Logs"), f"{name}: LoggingConfig.LogGroup: !Ref {name}Logs"
    logs = resource(f"{name}Logs")
    assert logs["Type"] == "AWS::Logs::LogGroup"
    assert logs.get("DeletionPolicy", "Delete") == "Delete"


def test_every_log_group_keeps_logs_for_the_retention_parameter() -> None:
    groups = resources("AWS::Logs::LogGroup")
    assert len(groups) >= len(functions()) + 1  # the functions' and the API's access logs
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == ref("LogRetentionDays"), name
    retention = parameter("LogRetentionDays")
    assert retention["Default"] == 90
    assert 90 in retention["AllowedValues"] and 3653 in retention["AllowedValues"]


# -- 9. the account-wide API Gateway role is a choice ---------------------------------------


def _condition(name: str, value: str) -> bool:
    ctx = Context(parameters={"SetApiGatewayAccountRole": value}, pseudo={})
    return bool(ctx.resolve(template()["Conditions"][name]))


def test_setting_the_api_gateway_account_role_is_a_parameter() -> None:
    choice = parameter("SetApiGatewayAccountRole")
    assert choice["Default"] == "true" and set(choice["AllowedValues"]) == {"true", "false"}
    for logical in ("ConnectorApiAccount", "ConnectorApiCloudWatchRole"):
        assert resource(logical)["Condition"] == "SetApiGatewayAccount"
    assert _condition("SetApiGatewayAccount", "true")
    assert not _condition("SetApiGatewayAccount", "false")
    # the API waits for the role when this stack sets it, without naming a resource that
    # may not exist (a DependsOn on it would fail to deploy with the parameter false)
    assert resource("ConnectorApi")["DependsOn"] == "ConnectorApiAccountReady"
    ready = resource("ConnectorApiAccountReady")["Metadata"]["AccountRole"]
    assert ready["Fn::If"][:2] == ["SetApiGatewayAccount", ref("ConnectorApiAccount")]


# -- 13. the platform is reached over https only --------------------------------------------


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(parameter(name)["AllowedPattern"])


@pytest.mark.parametrize("name", ["MessaggioSendUrl", "MessaggioMediaUrl"])
def test_platform_urls_must_be_https(name: str) -> None:
    pattern = _pattern(name)
    assert pattern.fullmatch("https://api.messaggio.example/send")
    assert pattern.fullmatch("https://media.sms-online.com/upload/")
    for bad in ("http://api.messaggio.example/send", "https://", "ftp://x", "api.example/send"):
        assert not pattern.fullmatch(bad), bad


# -- 8. a malformed allow-list entry does not deploy -----------------------------------------


def test_callback_allowed_cidrs_is_checked_at_deploy_time() -> None:
    """CloudFormation applies a CommaDelimitedList's pattern to each entry. Host bits are
    the function's check (a pattern cannot do arithmetic): tests/callbacks."""
    spec = parameter("CallbackAllowedCidrs")
    pattern = re.compile(spec["AllowedPattern"])
    good = ["0.0.0.0/0", "198.51.100.0/24", "203.0.113.7", "203.0.113.7/32", "::/0"]
    good += ["2001:db8::/32", "2001:db8::1", "::ffff:203.0.113.7"]
    for entry in [*good, *spec["Default"].split(",")]:
        assert pattern.fullmatch(entry), entry
    bad = ["203.0.113.0/33", "256.1.1.1", "1.2.3", "platform.example", "", " 10.0.0.0/8"]
    bad += ["10.0.0.0/8;10.1.0.0/16", "2001:db8::/129", "10.0.0.0/-1", "*"]
    for entry in bad:
        assert not pattern.fullmatch(entry), entry


# -- 15. least privilege ---------------------------------------------------------------------

_SOURCES = [
    *sorted((ROOT / "layers" / "shared" / "messaggio_core").rglob("*.py")),
    *sorted((ROOT / "functions").rglob("*.py")),
]


def _called_methods() -> set[str]:
    called: set[str] = set()
    for path in _SOURCES:
        called.update(re.findall(r"\.([a-z_]+)\(", Path(path).read_text()))
    return called


def _snake(action: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", action).lower()


@pytest.mark.parametrize("name", sorted(functions()))
def test_no_dynamodb_permission_without_a_call_that_needs_it(name: str) -> None:
    called = _called_methods()
    granted = [
        a.split(":", 1)[1]
        for s in statements(functions()[name])
        for a in actions(s)
        if a.startswith("dynamodb:")
    ]
    assert granted
    unused = [a for a in granted if _snake(a) not in called]
    assert not unused, f"{name} may {unused}, which no code calls"
    assert "TransactWriteItems" not in granted and "ConditionCheckItem" not in granted


def test_the_sender_may_not_query_it_never_reads_a_lifecycle() -> None:
    sender = {a for s in statements(resource("SenderFunction")) for a in actions(s)}
    assert "dynamodb:Query" not in sender
    code = "".join(p.read_text() for p in (ROOT / "functions" / "sender").rglob("*.py"))
    assert "lifecycle(" not in code


def _credentials_resource(secret_id: str) -> Any:
    ctx = Context(
        parameters={"MessaggioSecretId": secret_id},
        pseudo={"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "1" * 12},
    )
    for name, expr in template()["Conditions"].items():
        if name == "SecretIdIsArn":
            ctx.conditions[name] = bool(ctx.resolve(expr))
    policy = resource("CredentialsReadPolicy")["Properties"]["PolicyDocument"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    return ctx.resolve(statement["Resource"])


def test_the_secret_may_be_named_or_given_by_arn() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:messaggio/connector-AbCdEf"
    assert _credentials_resource("messaggio/connector") == (
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:messaggio/connector-*"
    )
    assert _credentials_resource(arn) == arn  # not arn...:secret:arn:aws:...-*
    pattern = _pattern("MessaggioSecretId")
    assert pattern.fullmatch("messaggio/connector") and pattern.fullmatch(arn)
    assert not pattern.fullmatch("messaggio connector")


def test_every_function_that_reads_the_secret_uses_the_one_policy() -> None:
    for name, function in functions().items():
        policies = function["Properties"].get("Policies", [])
        inline = [a for s in statements(function) for a in actions(s)]
        assert "secretsmanager:GetSecretValue" not in inline, name
        if name in ("SenderFunction", "MediaFunction", "CallbacksFunction"):
            assert ref("CredentialsReadPolicy") in policies, name


def test_the_media_bucket_expires_old_versions() -> None:
    bucket = resource("MediaBucket")["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if r["Status"] == "Enabled" and "NoncurrentVersionExpiration" in r]
    assert expiring and expiring[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1


def test_functions_that_read_images_may_list_the_bucket() -> None:
    """Without s3:ListBucket, S3 answers a missing key 403 instead of 404 (item 3)."""
    readers = 0
    for name, function in functions().items():
        granted = statements(function)
        reads = [s for s in granted if "s3:GetObject" in actions(s)]
        if not reads:
            continue
        readers += 1
        assert reads[0]["Resource"] == {"Fn::Sub": MEDIA_BUCKET_ARN + "/*"}, name
        lists = [s for s in granted if "s3:ListBucket" in actions(s)]
        assert lists and lists[0]["Resource"] == {"Fn::Sub": MEDIA_BUCKET_ARN}, name
    assert readers == 2  # sender (images by reference) and media


# -- 6. one dashboard with the figures an operator watches ----------------------------------


def _dashboard() -> dict[str, Any]:
    """The body with each ${...} replaced by its name, as JSON (what CloudWatch parses)."""
    body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
    data: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))
    return data


def _plotted() -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every line of every metric widget."""
    lines = []
    for widget in _dashboard()["widgets"]:
        for row in widget["properties"].get("metrics", []):
            names = [part for part in row if isinstance(part, str)]
            assert "." not in names, "write rows in full (no '.' shorthand): the checks read them"
            namespace, metric, *dims = names
            lines.append((namespace, metric, dict(zip(dims[::2], dims[1::2], strict=True))))
    return lines


def _emitted() -> set[str]:
    """Every string literal of the deployed code: a metric the dashboard plots must be one."""
    found: set[str] = set()
    for path in _SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_the_dashboard_plots_only_metrics_the_code_emits() -> None:
    ours = [(metric, dims) for ns, metric, dims in _plotted() if ns == "MessaggioConnector"]
    assert ours
    emitted = _emitted()
    for metric, dims in ours:
        assert metric in emitted, f"{metric}: no code emits it"
        assert dims == {"service": "messaggio-connector"}  # Powertools' one dimension
    globals_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["POWERTOOLS_METRICS_NAMESPACE"] == "MessaggioConnector"
    assert globals_env["POWERTOOLS_SERVICE_NAME"] == "messaggio-connector"


def test_the_dashboard_shows_every_outcome() -> None:
    from messaggio_media.handler import METRIC as MEDIA
    from messaggio_sender.handler import METRIC as SENDS

    ours = {metric for ns, metric, _ in _plotted() if ns == "MessaggioConnector"}
    assert set(SENDS.values()) <= ours, "sends by outcome"
    assert set(MEDIA.values()) <= ours, "images by outcome"
    reports = {"ReportStored", "ReportDuplicate", "ReportRejected", "CallbackForbidden"}
    assert reports | {"CallbackStorageFailed", "CallbackCredentialsFailed"} <= ours


def test_the_dashboard_shows_queues_dead_letters_functions_and_the_callback_route() -> None:
    plotted = _plotted()

    def lines(namespace: str, metric: str) -> list[dict[str, str]]:
        return [dims for ns, m, dims in plotted if (ns, m) == (namespace, metric)]

    queues = resources("AWS::SQS::Queue")
    dead = {q for q, spec in queues.items() if "RedrivePolicy" not in spec["Properties"]}
    fed = set(queues) - dead
    depth = {d["QueueName"] for d in lines("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    age = {d["QueueName"] for d in lines("AWS/SQS", "ApproximateAgeOfOldestMessage")}
    assert {f"<{q}.QueueName>" for q in queues} <= depth  # depth of each, dead letters too
    assert {f"<{q}.QueueName>" for q in fed} <= age
    for metric in ("Errors", "Throttles", "Duration"):
        shown = {d["FunctionName"] for d in lines("AWS/Lambda", metric)}
        assert shown == {f"<{f}>" for f in functions()}, f"{metric}: every function, by Ref"
    api = resource("ConnectorApi")["Properties"]
    assert api["Name"] == ref("AWS::StackName")  # the ApiName the rows below name
    for metric in ("4XXError", "5XXError", "Latency"):
        methods = {
            d["Method"]
            for d in lines("AWS/ApiGateway", metric)
            if d["Resource"] == "/callbacks/{token}"
            and d["ApiName"] == "<AWS::StackName>"
            and d["Stage"] == api["StageName"]
        }
        assert methods == {"GET", "POST"}, metric
    alarms = next(w for w in _dashboard()["widgets"] if w["type"] == "alarm")
    shown_alarms = set(alarms["properties"]["alarms"])
    assert shown_alarms == {f"<{a}.Arn>" for a in resources("AWS::CloudWatch::Alarm")}


def test_the_dashboard_name_is_an_output() -> None:
    assert template()["Outputs"]["DashboardName"]["Value"] == ref("Dashboard")


# -- 10. the callback route has its own throttle, and an optional per-source limit ----------


def test_the_callback_route_has_its_own_throttle_from_parameters() -> None:
    settings = resource("ConnectorApi")["Properties"]["MethodSettings"]
    route = [s for s in settings if s["ResourcePath"] == "/~1callbacks~1{token}"]
    assert {s["HttpMethod"] for s in route} == {"GET", "POST"}
    for one in route:
        assert one["ThrottlingRateLimit"] == ref("CallbackThrottleRate")
        assert one["ThrottlingBurstLimit"] == ref("CallbackThrottleBurst")
        assert one["DataTraceEnabled"] is False and one["LoggingLevel"] == "OFF"
    # sized to the platform's reports: 5 per recipient at the default rate, burst 2 s of it
    rate = template()["Parameters"]["MessaggioRateLimit"]["Default"]
    assert parameter("CallbackThrottleRate")["Default"] == 5 * rate
    assert parameter("CallbackThrottleBurst")["Default"] == 2 * 5 * rate


def test_the_web_acl_is_attached_only_when_asked() -> None:
    wanted = parameter("EnableCallbackWaf")
    assert wanted["Default"] == "false" and set(wanted["AllowedValues"]) == {"true", "false"}
    condition = template()["Conditions"]["CallbackWafEnabled"]
    assert condition == {"Fn::Equals": [ref("EnableCallbackWaf"), "true"]}
    acl = resource("CallbackWebAcl")
    association = resource("CallbackWebAclAssociation")
    assert acl["Condition"] == association["Condition"] == "CallbackWafEnabled"
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": "CallbackWebAcl.Arn"}
    stage = association["Properties"]["ResourceArn"]["Fn::Sub"]
    assert stage.endswith("/restapis/${ConnectorApi}/stages/${ConnectorApi.Stage}")
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["DefaultAction"] == {"Allow": {}}
    # sampled requests would show the URL, which carries the callback token
    assert props["VisibilityConfig"]["SampledRequestsEnabled"] is False
    (rule,) = props["Rules"]
    assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is False
    limit = rule["Statement"]["RateBasedStatement"]
    assert limit["AggregateKeyType"] == "IP" and limit["Limit"] == ref("CallbackWafRequestsPer5Min")
    match = limit["ScopeDownStatement"]["ByteMatchStatement"]
    assert match["FieldToMatch"] == {"UriPath": {}} and match["SearchString"] == "/callbacks/"
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429  # retried
