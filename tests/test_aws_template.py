"""The CloudFormation example (`examples/aws/alb-cognito.yaml`): cfn-lint, and its outputs are
exactly the environment `ALBConfig.from_env` reads, with values it accepts."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from alb_oidc import ALBConfig, ConfigurationError, cognito_logout_url
from alb_oidc.testing import DEFAULT_ALB_ARN, DEFAULT_CLIENT_ID, DEFAULT_USER_POOL_ID

TEMPLATE = Path(__file__).parent.parent / "examples" / "aws" / "alb-cognito.yaml"
REGION = "eu-west-1"
# What the app needs to trust this stack's ALB and user pool, and to log out through it.
APP_VARIABLES = {
    "ALB_OIDC_ALB_ARNS",
    "ALB_OIDC_CLIENT_IDS",
    "ALB_OIDC_ISSUERS",
    "ALB_OIDC_COGNITO_USER_POOL_ID",
    "ALB_OIDC_SESSION_COOKIE",
    "ALB_OIDC_PUBLIC_PATHS",
    "ALB_OIDC_OPTIONAL",
    "ALB_OIDC_LOGOUT_URL",
}


class Recording(Mapping[str, str]):
    """An environment that remembers every name it was asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def variables_from_env_reads() -> set[str]:
    """Every ALB_OIDC_ name `ALBConfig.from_env` asks for, taken from the code itself."""
    empty = Recording({})
    with pytest.raises(ConfigurationError):
        ALBConfig.from_env(empty)
    # With a user pool, from_env also reads the COGNITO_* variables.
    full = Recording(
        {
            "ALB_OIDC_ALB_ARNS": DEFAULT_ALB_ARN,
            "ALB_OIDC_CLIENT_IDS": DEFAULT_CLIENT_ID,
            "ALB_OIDC_COGNITO_USER_POOL_ID": DEFAULT_USER_POOL_ID,
        }
    )
    ALBConfig.from_env(full)
    asked = empty.asked | full.asked
    assert "ALB_OIDC_ALB_ARNS" in asked  # the recording works
    return asked


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode(str(TEMPLATE))
    assert not errors, errors
    assert decoded is not None
    return decoded


def test_cfn_lint_finds_no_error_or_warning() -> None:
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", REGION]))
    problems = [m for m in matches if m.rule.severity in ("error", "warning")]
    assert not problems, "\n".join(f"{m.linenumber}: {m.rule.id} {m.message}" for m in problems)


def test_cfn_lint_does_catch_a_misspelt_property(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = TEMPLATE.read_text("utf-8")
    broken.write_text(text.replace("UserPoolClientId:", "UserPoolClientID:"), "utf-8")
    matches = lint_file(broken, config=ManualArgs(regions=[REGION]))
    assert any(m.rule.severity == "error" for m in matches)


def test_outputs_are_exactly_the_app_variables_and_from_env_reads_them(
    template: dict[str, Any],
) -> None:
    outputs = {
        output["Description"]: logical_id
        for logical_id, output in template["Outputs"].items()
        if output["Description"].startswith("ALB_OIDC_")
    }
    assert set(outputs) == APP_VARIABLES
    assert variables_from_env_reads() >= APP_VARIABLES
    # Output ids cannot hold underscores: each one is its variable in CamelCase.
    for variable, logical_id in outputs.items():
        assert logical_id == "".join(part.capitalize() for part in variable.split("_"))


def test_every_alb_oidc_name_in_the_template_is_read_by_from_env() -> None:
    mentioned = set(re.findall(r"ALB_OIDC_[A-Z0-9_]+", TEMPLATE.read_text("utf-8")))
    assert mentioned
    assert mentioned <= variables_from_env_reads()


def outputs_by_variable(template: dict[str, Any]) -> dict[str, Any]:
    return {
        output["Description"]: output["Value"]
        for output in template["Outputs"].values()
        if output["Description"].startswith("ALB_OIDC_")
    }


def test_the_app_and_the_logout_function_get_the_output_values(
    template: dict[str, Any],
) -> None:
    outputs = outputs_by_variable(template)
    resources = template["Resources"]
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment == outputs
    assert resources["AppFunction"]["Properties"]["Environment"]["Variables"] == outputs
    variables = resources["LogoutFunction"]["Properties"]["Environment"]["Variables"]
    assert variables == {name: outputs[name] for name in variables}
    assert set(variables) == {"ALB_OIDC_LOGOUT_URL", "ALB_OIDC_SESSION_COOKIE"}


def test_lambda_targets_get_every_header_value(template: dict[str, Any]) -> None:
    groups = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
        and resource["Properties"].get("TargetType") == "lambda"
    ]
    assert len(groups) == 2
    for group in groups:
        attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
        assert attributes["lambda.multi_value_headers.enabled"] == "true"


class Stack:
    """Evaluates the template's intrinsic functions for given parameters, as a deployment would."""

    CLIENT_ID = "4fmvht22tjrgd7d3k3tghttct7"

    def __init__(self, template: dict[str, Any], **parameters: str) -> None:
        self.template = template
        self.values = {
            name: str(spec["Default"])
            for name, spec in template["Parameters"].items()
            if "Default" in spec
        }
        self.values.update(parameters)
        self.values.update(
            {
                "AWS::Region": REGION,
                "LoadBalancer": DEFAULT_ALB_ARN,
                "UserPool": DEFAULT_USER_POOL_ID,
                "UserPoolClient": self.CLIENT_ID,
            }
        )

    def condition(self, name: str) -> bool:
        definition = self.template["Conditions"][name]
        (function, arguments), *_ = definition.items()
        if function == "Fn::Not":
            return not self.evaluate({"Fn::Equals": arguments[0]["Fn::Equals"]})
        left, right = (self.evaluate(argument) for argument in arguments)
        return bool(left == right)

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, str):
            return node
        (function, argument), *_ = node.items()
        if function == "Ref":
            return self.values[argument]
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: self.values[m[1]], argument)
        if function == "Fn::If":
            name, then, otherwise = argument
            return self.evaluate(then if self.condition(name) else otherwise)
        if function == "Fn::Equals":
            left, right = (self.evaluate(item) for item in argument)
            return left == right
        raise AssertionError(f"not evaluated here: {function}")

    def environment(self) -> dict[str, str]:
        outputs = outputs_by_variable(self.template)
        return {name: self.evaluate(value) for name, value in outputs.items()}


def test_the_outputs_configure_the_app_for_this_stack(template: dict[str, Any]) -> None:
    stack = Stack(template, DomainName="app.example.com", CognitoDomainPrefix="myapp-login")
    config = ALBConfig.from_env(stack.environment())
    assert config.alb_arns == (DEFAULT_ALB_ARN,)
    assert config.client_ids == (Stack.CLIENT_ID,)
    assert config.cognito is not None
    assert config.cognito.user_pool_id == DEFAULT_USER_POOL_ID
    assert config.cognito.client_ids == (Stack.CLIENT_ID,)
    # The data token's iss for authenticate-cognito is the user pool's issuer.
    assert config.issuers == (config.cognito.issuer,)
    assert config.session_cookie == "AWSELBAuthSessionCookie"
    assert config.public_paths == ("/health", "/bye")
    assert config.optional is False
    assert config.logout_url == cognito_logout_url(
        f"myapp-login.auth.{REGION}.amazoncognito.com",
        Stack.CLIENT_ID,
        "https://app.example.com/bye",
    )


def test_anonymous_requests_allowed_by_the_alb_make_the_app_optional(
    template: dict[str, Any],
) -> None:
    stack = Stack(
        template,
        DomainName="app.example.com",
        CognitoDomainPrefix="myapp-login",
        OnUnauthenticatedRequest="allow",
        SessionCookieName="TasksSession",
        SignedOutPage="signed-out",
    )
    config = ALBConfig.from_env(stack.environment())
    assert config.optional is True
    assert config.session_cookie == "TasksSession"
    assert config.public_paths == ("/health", "/signed-out")
    assert config.logout_url is not None
    assert config.logout_url.endswith("logout_uri=https%3A%2F%2Fapp.example.com%2Fsigned-out")


def test_the_app_client_is_what_the_alb_needs(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["CallbackURLs"] == [{"Fn::Sub": "https://${DomainName}/oauth2/idpresponse"}]
    assert client["LogoutURLs"] == [{"Fn::Sub": "https://${DomainName}/${SignedOutPage}"}]
    requested = template["Parameters"]["Scope"]["Default"].split()
    assert "openid" in requested
    assert set(requested) <= set(client["AllowedOAuthScopes"])
    server = resources["TasksResourceServer"]["Properties"]
    custom = {f"{server['Identifier']}/{scope['ScopeName']}" for scope in server["Scopes"]}
    assert {scope for scope in client["AllowedOAuthScopes"] if "/" in scope} == custom


def test_public_pages_are_matched_before_the_authenticate_rule(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    authenticated = resources["AuthenticatedRule"]["Properties"]
    public = resources["PublicRule"]["Properties"]
    logout = resources["LogoutRule"]["Properties"]
    assert public["Priority"] < authenticated["Priority"]
    assert logout["Priority"] < authenticated["Priority"]
    for rule in (public, logout):
        assert [action["Type"] for action in rule["Actions"]] == ["forward"]
    (paths,) = public["Conditions"]
    assert paths["PathPatternConfig"]["Values"] == ["/health", {"Fn::Sub": "/${SignedOutPage}"}]
    authenticate, forward = sorted(authenticated["Actions"], key=lambda action: action["Order"])
    assert (authenticate["Type"], forward["Type"]) == ("authenticate-cognito", "forward")
    settings = authenticate["AuthenticateCognitoConfig"]
    assert settings["UserPoolArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
    assert settings["UserPoolClientId"] == {"Ref": "UserPoolClient"}
    assert settings["UserPoolDomain"] == {"Ref": "CognitoDomainPrefix"}
    for field in ("Scope", "SessionCookieName", "SessionTimeout", "OnUnauthenticatedRequest"):
        assert settings[field] == {"Ref": field}


def test_the_app_accepts_connections_from_the_load_balancer_only(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    (ingress,) = resources["ServiceSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "LoadBalancerSecurityGroup"}
    assert "CidrIp" not in ingress
    assert ingress["FromPort"] == ingress["ToPort"] == {"Ref": "ContainerPort"}


def test_the_load_balancer_may_reach_the_app_port_whenever_its_targets_are_in_the_vpc(
    template: dict[str, Any],
) -> None:
    """A security group with egress rules allows nothing else: the load balancer's (443, for
    Cognito) would drop every request and health check to the Fargate tasks or to the targets
    of TargetGroupArn unless a rule opens ContainerPort. (Lambda targets need none.)"""
    resources = template["Resources"]
    (cognito,) = resources["LoadBalancerSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert (cognito["FromPort"], cognito["ToPort"]) == (443, 443)
    to_app = {
        resource.get("Condition")
        for resource in resources.values()
        if resource["Type"] == "AWS::EC2::SecurityGroupEgress"
        and resource["Properties"]["GroupId"] == {"Ref": "LoadBalancerSecurityGroup"}
        and resource["Properties"]["FromPort"] == {"Ref": "ContainerPort"}
        and resource["Properties"]["ToPort"] == {"Ref": "ContainerPort"}
    }
    assert to_app == {"CreateService", "TargetGroupGiven"}
    conditions = template["Conditions"]
    assert conditions["TargetGroupGiven"] == {"Fn::Not": [{"Condition": "NoTargetGroupGiven"}]}
    assert conditions["NoTargetGroupGiven"] == {"Fn::Equals": [{"Ref": "TargetGroupArn"}, ""]}


def test_the_lambda_handlers_named_in_the_examples_exist() -> None:
    examples = TEMPLATE.parent
    texts = [path.read_text("utf-8") for path in (TEMPLATE, *examples.glob("*/Dockerfile"))]
    handlers = {name for text in texts for name in re.findall(r"\b[a-z_.]+\.handler\b", text)}
    assert handlers == {"alb_oidc.logout_service.handler", "examples.lambda_app.handler"}
    for name in handlers:
        module, attribute = name.rsplit(".", 1)
        spec = importlib.util.find_spec(module)
        assert spec is not None, module
        assert spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text("utf-8"))
        defined = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        } | {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert attribute in defined, name


def test_the_dockerfiles_install_from_the_checkout_and_the_app_image_runs_a_real_factory() -> None:
    """Until alb-oidc is on PyPI an image can only install it from the repository it is built
    in; and the Fargate image's uvicorn target must exist and build an app from ALB_OIDC_*."""
    root = TEMPLATE.parent.parent.parent
    dockerfiles = sorted(TEMPLATE.parent.glob("*/Dockerfile"))
    assert [path.parent.name for path in dockerfiles] == ["app", "lambda-app", "logout-service"]
    for path in dockerfiles:
        text = path.read_text("utf-8")
        for source in re.findall(r"^COPY (.+) /src/", text, flags=re.MULTILINE):
            for name in source.split():
                assert (root / name).exists(), f"{path}: COPY {name}"
        assert re.search(r'pip install --no-cache-dir "?/src', text), path
    command = json.loads(
        re.search(r"^CMD (.+)$", (TEMPLATE.parent / "app" / "Dockerfile").read_text(), re.M)[1]
    )
    assert command[:3] == ["uvicorn", "alb_oidc.dev.demo_app:create_app", "--factory"]
    module, attribute = command[1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
