"""Is every AWS call a function makes allowed by its role, exactly as template.yaml writes it?

Recording: while a function loaded by `stack.load_function` runs its handler, every botocore call
in the process (its threads included) is recorded as the IAM action and resource it is authorized
on, with the values the template's environment gave the function (CLOUDFLARE_SECRET_ARN is
`!Ref CloudflareSecretArn`, so the role's `!Ref CloudflareSecretArn` is that secret).

A variable the template sets as `!If [Condition, !Ref Name, ""]` (ENTITLEMENTS_TABLE) tells both
the resource's name and that the condition held; a condition `!Equals [!Ref Parameter, value]` then
gives the parameter's value. So a call is judged against the role of the stack whose parameters
gave the function the environment it ran with: a policy parameter, an entitlements table, an
entitlement function when the environment names them, and none of their statements otherwise.

Evaluating: the function's role statements from template.yaml (an AWS::IAM::Role's Policies, the
`!If` entries among them taken as those parameters decide, or SAM `Policies` with SAM's policy
templates expanded by samtranslator), intrinsics resolved with those values and the test's account
and region; a call is allowed when an Allow statement matches its
action and resource and no Deny does. What this evaluator cannot judge (NotAction, NotResource,
Condition, managed policies) fails loudly rather than passing.

To cover a new service, add how its calls name their resource to RESOURCE_OF (Secrets Manager,
DynamoDB, SSM parameters and Lambda functions are there).
"""

from __future__ import annotations

import copy
import functools
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import botocore.client
import pytest

from localdev.standins import stack
from localdev.standins.template import condition_values, template
from stream_tokens.adapters import aws_request

ACCOUNT_ID = "123456789012"  # moto's account: the ARNs it hands out name it
PSEUDO = {
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Region": stack.REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stream-signed-urls",
}


@dataclass(frozen=True)
class AwsCall:
    function: str  # the function's logical id in template.yaml
    action: str  # as IAM names it, e.g. secretsmanager:GetSecretValue
    resource: str  # the ARN it is authorized on
    given: tuple[tuple[str, str], ...]  # template names -> the values the function's environment held


UNKNOWN = "unknown resource: "


def _secret(parameters: dict[str, Any], region: str) -> str:
    secret_id = str(parameters["SecretId"])
    return secret_id if secret_id.startswith("arn:") else f"{UNKNOWN}a secret by name ({secret_id}), not by ARN"


def _table_arn(name: str, region: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def _table(parameters: dict[str, Any], region: str) -> str | list[str]:
    if "RequestItems" in parameters:  # BatchGetItem, BatchWriteItem: authorized on each table named
        return [_table_arn(str(name), region) for name in parameters["RequestItems"]]
    return _table_arn(str(parameters["TableName"]), region)


def _parameter(parameters: dict[str, Any], region: str) -> str:
    """An SSM parameter's ARN: `parameter` followed by its name, whose leading slash is its own."""
    name = str(parameters["Name"])
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter{name if name.startswith('/') else '/' + name}"


def _function(parameters: dict[str, Any], region: str) -> str:
    """A Lambda function's ARN as Invoke names it (a qualifier in the ARN or given apart is kept)."""
    name = str(parameters["FunctionName"])
    if ":" in name and not name.startswith("arn:"):
        return f"{UNKNOWN}a function by partial ARN ({name})"
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return f"{arn}:{parameters['Qualifier']}" if parameters.get("Qualifier") else arn


# How each service's calls name the resource(s) IAM authorizes them on (extend for a new service).
RESOURCE_OF: dict[str, Callable[[dict[str, Any], str], str | list[str]]] = {
    "secretsmanager": _secret,
    "dynamodb": _table,
    "ssm": _parameter,
    "lambda": _function,
}

# The API operations whose IAM action has another name (most have their operation's own).
ACTION_OF = {"lambda:Invoke": "lambda:InvokeFunction"}

CALLS: list[AwsCall] = []  # every call recorded this session
_lock = threading.Lock()
_invoking: list[str] = []  # the function whose handler runs now


def function_of(folder: str) -> str:
    """The logical id of the function whose CodeUri is functions/<folder>/."""
    (name,) = [
        name
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and resource["Properties"]["CodeUri"].rstrip("/") == f"functions/{folder}"
    ]
    return name


def _environment_references(function: str) -> dict[str, str]:
    """Template names (parameters, resources) the function's environment passes with !Ref, and the
    values that environment holds now; for a variable `!If [Condition, !Ref Name, ""]` that is not
    empty, Name's value and the parameter value the condition implies."""
    declared = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    declared |= template()["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    given: dict[str, str] = {}
    for variable, value in declared.items():
        if not isinstance(value, dict) or variable not in os.environ:
            continue
        if "!Ref" in value:
            given[value["!Ref"]] = os.environ[variable]
        elif "!If" in value and os.environ[variable] != "":
            condition, when_true, when_false = value["!If"]
            assert when_false == "", f"{variable}: {value} is not read here"
            assert "!Ref" in when_true, f"{variable}: {value} is not read here"
            given[when_true["!Ref"]] = os.environ[variable]
            given |= _parameters_implied_by(condition)
    return given


def _parameters_implied_by(condition: str) -> dict[str, str]:
    """The parameter value that makes a condition `!Equals [!Ref Parameter, value]` true."""
    written = template()["Conditions"][condition]
    operands = written.get("!Equals")
    assert operands, f"{condition}: {written} is not read here"
    assert "!Ref" in operands[0], f"{condition}: {written} is not read here"
    assert isinstance(operands[1], str), f"{condition}: {written} is not read here"
    return {operands[0]["!Ref"]: operands[1]}


def _record(client: Any, operation: str, parameters: dict[str, Any]) -> None:
    model = client.meta.service_model
    service = model.metadata.get("signingName") or model.endpoint_prefix
    _record_call(service, operation, parameters, client.meta.region_name)


def _record_call(service: str, operation: str, parameters: dict[str, Any], region: str) -> None:
    if not _invoking:
        return
    function = _invoking[-1]
    if service in RESOURCE_OF:
        named = RESOURCE_OF[service](parameters, region)
    else:
        named = f"{UNKNOWN}say in RESOURCE_OF (tests/support/aws_permissions.py) what {service} calls act on"
    given = tuple(sorted(_environment_references(function).items()))
    action = ACTION_OF.get(f"{service}:{operation}", f"{service}:{operation}")
    calls = [AwsCall(function, action, resource, given) for resource in _listed(named)]
    with _lock:
        CALLS.extend(calls)


def _invoked_as(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        _invoking.append(function)
        try:
            return handler(*args, **kwargs)
        finally:
            _invoking.pop()

    return invoke


@contextmanager
def recording() -> Iterator[list[AwsCall]]:
    """Record the calls of every function loaded meanwhile (for the whole session, from conftest)."""
    with pytest.MonkeyPatch.context() as patch:
        make_api_call = vars(botocore.client.BaseClient)["_make_api_call"]
        load_function = stack.load_function
        plain_call = aws_request.call

        def recorded_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            _record(self, operation_name, api_params)
            return make_api_call(self, operation_name, api_params)

        def recorded_plain_call(service: Any, action: str, payload: Any, *args: Any, **kwargs: Any) -> Any:
            answer = plain_call(service, action, payload, *args, **kwargs)
            if answer is not None:  # the signed request was sent (a None leaves it to the client, recorded above)
                region = os.environ.get("AWS_DEFAULT_REGION", stack.REGION)
                _record_call(service.name, action, dict(payload), region)
            return answer

        def recorded_load(name: str, **options: Any) -> ModuleType:
            module = load_function(name, **options)
            patch.setattr(module, "lambda_handler", _invoked_as(function_of(name), module.lambda_handler))
            return module

        patch.setattr(botocore.client.BaseClient, "_make_api_call", recorded_call)
        patch.setattr(stack, "load_function", recorded_load)
        patch.setattr(aws_request, "call", recorded_plain_call)
        yield CALLS


# -- the role as template.yaml writes it ---------------------------------------------------------
_LONG_FORM = {"!Ref": "Ref", "!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!Join": "Fn::Join", "!If": "Fn::If"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _stack_parameters(given: dict[str, str]) -> dict[str, str]:
    """The template parameters among the names a call was made with."""
    return {name: value for name, value in given.items() if name in template()["Parameters"]}


class _Resolver:
    """Intrinsic functions of the template's role statements, with the values a call was made with."""

    def __init__(self, resources: dict[str, Any], given: dict[str, str]) -> None:
        self.resources, self.given = resources, given
        parameters = template()["Parameters"]
        self.values = PSEUDO | {n: str(p.get("Default", "")) for n, p in parameters.items()} | given
        self.conditions = condition_values(_stack_parameters(given))

    def physical_id(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        properties = self.resources[name].get("Properties", {})
        named = [properties[k] for k in ("LogGroupName", "QueueName", "TableName") if k in properties]
        return str(self(named[0])) if named else name

    def attribute(self, name: str, attribute: str) -> str:
        assert attribute == "Arn", f"{name}.{attribute}: only Arn is known here"
        kind, physical = self.resources[name]["Type"], self.physical_id(name)
        region = PSEUDO["AWS::Region"]
        arns = {
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{physical}:*",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{physical}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{physical}",
        }
        return arns.get(kind, f"arn:aws:{kind}:{region}:{ACCOUNT_ID}:{physical}")

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            function = _LONG_FORM.get(key, key)
            if function == "Ref":
                return self.physical_id(argument)
            if function == "Fn::GetAtt":
                name, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.attribute(name, attribute)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                variables = {k: self(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._substitute(m.group(1), variables), text)
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self(items))
            if function == "Fn::If":
                condition, when_true, when_false = argument
                return self(when_true if self.conditions[condition] else when_false)
        return {key: self(value) for key, value in node.items()}

    def _substitute(self, name: str, variables: dict[str, Any]) -> str:
        if name in variables:
            return str(variables[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.attribute(resource, attribute)
        return self.physical_id(name)


def _sam_policies(policies: Any) -> list[dict[str, Any]]:
    """The statements of a SAM function's `Policies` (inline documents and SAM policy templates)."""
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    processor = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())
    statements = []
    for policy in policies if isinstance(policies, list) else [policies]:
        assert isinstance(policy, dict), f"managed policy {policy!r}: not evaluated here"
        if "Statement" in policy:
            statements += policy["Statement"]
            continue
        ((name, parameters),) = policy.items()
        statements += processor.convert(name, parameters or {})["Statement"]
    return statements


ALL_FEATURES = {
    "PolicyParameterName": "/stream-signed-urls/policy",
    "EntitlementsTable": "create",
    "EntitlementFunctionArn": f"arn:aws:lambda:{stack.REGION}:{ACCOUNT_ID}:function:entitled",
}
"""Parameters of a stack with every optional read of the minting roles on (issue 21)."""


def inline_policies(role: dict[str, Any], parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The inline policies ({PolicyName, PolicyDocument}) of an AWS::IAM::Role resource as a stack
    with these parameter values (template defaults for the others) has them: an `!If` entry taken
    on template.yaml's Conditions, AWS::NoValue left out. The policies are the template's own dicts
    (a test may edit them in a copy of the resources)."""
    conditions = condition_values(parameters or {})
    policies = []
    for written in role["Properties"].get("Policies", []):
        policy = written
        while isinstance(policy, dict) and set(policy) <= {"!If", "Fn::If"} and policy:
            condition, when_true, when_false = next(iter(policy.values()))
            policy = when_true if conditions[condition] else when_false
        if policy not in ({"!Ref": "AWS::NoValue"}, {"Ref": "AWS::NoValue"}):
            policies.append(policy)
    return policies


def role_statements(
    function: str, resources: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The policy statements of the function's execution role, as template.yaml writes them for a
    stack with these parameter values (defaults for the others)."""
    resources = resources or template()["Resources"]
    properties = resources[function]["Properties"]
    if "Role" not in properties:
        return _sam_policies(properties.get("Policies", []))
    role_name = properties["Role"]["!GetAtt"].removesuffix(".Arn")
    role = resources[role_name]
    assert role["Type"] == "AWS::IAM::Role", role_name
    assert not role["Properties"].get("ManagedPolicyArns"), f"{role_name}: managed policies are not evaluated here"
    inline = [s for policy in inline_policies(role, parameters) for s in policy["PolicyDocument"]["Statement"]]
    return inline + _attached_statements(role_name, resources)


def _attached_statements(role_name: str, resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of the AWS::IAM::Policy / RolePolicy resources attached to the role (IAM applies
    every identity policy of a role, inline or attached this way)."""
    attached = []
    for resource in resources.values():
        properties = resource.get("Properties", {})
        roles = properties.get("Roles", []) if resource["Type"] == "AWS::IAM::Policy" else []
        roles = [properties["RoleName"]] if resource["Type"] == "AWS::IAM::RolePolicy" else roles
        if {"!Ref": role_name} in roles:
            attached += properties["PolicyDocument"]["Statement"]
    return attached


def _matches(patterns: Any, value: str, *, case_sensitive: bool) -> bool:
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        regex = re.escape(str(pattern)).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE):
            return True
    return False


def decision(call: AwsCall, resources: dict[str, Any] | None = None, parameters: dict[str, str] | None = None) -> str:
    """ "allowed", or why not: by the role of the stack whose parameters gave the function the
    environment the call was made with, or, when `parameters` are given, of a stack with those
    values instead (e.g. the defaults: would a default stack's role allow this call?)."""
    if call.resource.startswith(UNKNOWN):
        return call.resource
    resources = resources or template()["Resources"]
    given = dict(call.given) | (parameters or {})
    resolve = _Resolver(resources, given)
    allowed = False
    for written in role_statements(call.function, resources, _stack_parameters(given)):
        unsupported = {"NotAction", "NotResource", "Condition", "NotPrincipal"} & set(written)
        assert not unsupported, f"{call.function}: {sorted(unsupported)} in {written}: not evaluated here"
        statement = resolve(copy.deepcopy(written))
        if _matches(statement["Action"], call.action, case_sensitive=False) and _matches(
            statement["Resource"], call.resource, case_sensitive=True
        ):
            if statement["Effect"] == "Deny":
                return f"denied by {statement}"
            allowed = True
    return "allowed" if allowed else "no statement of its role allows it"


def denied(
    calls: list[AwsCall], resources: dict[str, Any] | None = None, parameters: dict[str, str] | None = None
) -> list[tuple[AwsCall, str]]:
    """Each distinct call the role as written would refuse, with the reason (`decision`)."""
    return [(call, why) for call in dict.fromkeys(calls) if (why := decision(call, resources, parameters)) != "allowed"]
