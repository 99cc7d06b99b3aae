"""The CloudWatch dashboard of the stack, generated from the metric names the code emits.

`make dashboard` writes it into template.yaml (between the markers below), where it stays a plain,
reviewable resource that `sam validate`, cfn-lint, checkov and the Serverless Application Repository
read like any other: no include to upload, no build step before a deploy. A test fails when the
committed block is not what this produces, and another when a metric used here is not one the code
emits with exactly these dimensions (a query that names other dimensions draws an empty graph).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream_tokens import observability as o

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
BEGIN = "  # --- Operations (issue 15): dashboard, written by `make dashboard` from observability.py; do not edit ---\n"
END = "  # --- end of the generated dashboard ---\n"
SHARE_LINE = "${CloudflareCallsPer5Minutes}"  # the annotation's value: the parameter, a number
PERIOD = 300  # seconds: Cloudflare's rate limit counts per 5 minutes, so does every graph


@dataclass(frozen=True)
class Metric:
    """One metric as a dashboard or an alarm names it: namespace, name and the full dimension set."""

    name: str
    dimensions: tuple[tuple[str, str], ...]
    namespace: str = o.NAMESPACE
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def row(self) -> list[Any]:
        flat = [part for dimension in self.dimensions for part in dimension]
        return [self.namespace, self.name, *flat] + ([self.options] if self.options else [])


@dataclass(frozen=True)
class Search:
    """Every value of one dimension of a custom metric (one line each): a CloudWatch SEARCH."""

    name: str
    dimension: str
    stat: str

    @property
    def dimension_names(self) -> frozenset[str]:
        return frozenset({o.SERVICE_DIMENSION, self.dimension})

    def row(self) -> list[Any]:
        schema = f"{{{o.NAMESPACE},{o.SERVICE_DIMENSION},{self.dimension}}}"
        where = f'MetricName="{self.name}" {o.SERVICE_DIMENSION}="{o.SERVICE}"'
        query = f"SEARCH('{schema} {where}', '{self.stat}', {PERIOD})"
        return [{"expression": query, "label": "", "id": f"search{self.name.lower()}"}]


def custom(name: str, *dimensions: tuple[str, str], **options: Any) -> Metric:
    """A metric of the code's namespace: Powertools adds the service dimension to every one."""
    return Metric(name, ((o.SERVICE_DIMENSION, o.SERVICE), *dimensions), options=options)


def lambda_metric(name: str, function: str, **options: Any) -> Metric:
    return Metric(name, (("FunctionName", f"${{{function}}}"),), "AWS/Lambda", options)


def cold_starts(function: str) -> Metric:
    """Powertools writes ColdStart with the function's name and the service, not the service alone."""
    return Metric(
        o.COLD_START,
        ((o.FUNCTION_NAME, f"${{{function}}}"), (o.SERVICE_DIMENSION, o.SERVICE)),
        options={"label": function},
    )


API = (("ApiId", "${StreamApi}"),)
MINTING = ("MintFunction", "MintDirectFunction")


@dataclass(frozen=True)
class Graph:
    title: str
    rows: list[Metric | Search]
    stat: str = "Sum"
    properties: dict[str, Any] = field(default_factory=dict)

    def widget(self) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": self.title,
                "region": "${AWS::Region}",
                "view": "timeSeries",
                "stat": self.stat,
                "period": PERIOD,
                "metrics": [row.row() for row in self.rows],
                **self.properties,
            },
        }


def graphs() -> list[Graph]:
    percentiles = [{"stat": "p50"}, {"stat": "p99"}]
    return [
        Graph(
            "Tokens issued, by issuer",
            [custom(o.TOKENS_ISSUED, (o.ISSUER, issuer), label=issuer) for issuer in ("local", "api")],
        ),
        Graph(
            "API answers (Count, 4xx, 5xx)",
            [Metric(name, API, "AWS/ApiGateway", {"label": name}) for name in ("Count", "4xx", "5xx")],
        ),
        Graph(
            "Latency p50 / p99 (ms): the minting functions and Cloudflare's API",
            [
                *(
                    lambda_metric("Duration", function, label=f"{function} {p['stat']}", **p)
                    for function in MINTING
                    for p in percentiles
                ),
                *(custom(o.UPSTREAM_LATENCY, label=f"Cloudflare API {p['stat']}", **p) for p in percentiles),
            ],
            stat="p50",
        ),
        Graph("Refusals, by error type", [Search(o.ERRORS, o.ERROR_KIND, "Sum")]),
        Graph(
            "Policy refusals, by reason",
            [
                Search(o.REFUSALS, o.REASON, "Sum"),  # no_rule, not_entitled, not_allowed, batch_size, quota
                custom(o.POLICY_REJECTED, (o.REASON, "schema"), label="policy documents rejected (alarmed)"),
            ],
        ),
        Graph(
            "Cloudflare calls against this deployment's share (per 5 minutes)",
            [
                custom(o.UPSTREAM_LATENCY, stat="SampleCount", label="calls to Cloudflare (refused ones included)"),
                custom(o.RATE_LIMITED, (o.LIMITED_BY, o.LIMITED_BY_CLOUDFLARE), label="429 from Cloudflare"),
                custom(o.RATE_LIMITED, (o.LIMITED_BY, o.LIMITED_BY_SHARE), label="refused: share used up"),
                custom(o.SHARE_USED, stat="Maximum", yAxis="right", label="share in use, % (max of containers)"),
                Search(o.BUDGET_STORE_FALLBACK, o.FALLBACK_REASON, "Sum"),  # on the static share: the table failed
            ],
            properties={"annotations": {"horizontal": [{"label": "CloudflareCallsPer5Minutes", "value": SHARE_LINE}]}},
        ),
        Graph(
            "Cold starts and throttles",
            [
                *(cold_starts(function) for function in MINTING),
                *(lambda_metric("Throttles", function, label=f"{function} throttles") for function in MINTING),
            ],
        ),
        Graph(
            "Failure queue depth (failed asynchronous requests)",
            [
                Metric(
                    "ApproximateNumberOfMessagesVisible",
                    (("QueueName", "${MintFailureQueue.QueueName}"),),
                    "AWS/SQS",
                    {"label": "messages waiting"},
                )
            ],
            stat="Maximum",
        ),
        Graph(
            "Signing key rotation: key events and failed runs",
            [
                Search(o.SIGNING_KEYS, o.SIGNING_KEY_EVENT, "Sum"),
                lambda_metric("Errors", "RotateSigningKeyFunction", label="rotation function errors"),
            ],
        ),
    ]


def custom_metrics() -> list[Metric | Search]:
    """Every metric of the code's namespace the dashboard draws (the tests hold them to the code)."""
    return [row for g in graphs() for row in g.rows if isinstance(row, Search) or row.namespace == o.NAMESPACE]


def body() -> dict[str, Any]:
    """The dashboard: two graphs a row, in order."""
    return {
        "widgets": [
            {"x": (i % 2) * 12, "y": (i // 2) * 6, **g.widget()}
            for i, g in enumerate(graphs())  # properties last
        ]
    }


def body_text() -> str:
    """The body as JSON a reviewer can read: a line per graph, and a line per metric in it."""
    graphs_text = []
    for widget in body()["widgets"]:
        properties = dict(widget["properties"])
        rows = properties.pop("metrics")
        head = json.dumps({**widget, "properties": properties})[: -len("}}")]
        metrics = ",\n".join("   " + json.dumps(row) for row in rows)
        graphs_text.append(f' {head}, "metrics": [\n{metrics}\n ]}}}}')
    text = '{"widgets": [\n' + ",\n".join(graphs_text) + "\n]}"
    return text.replace(f'"{SHARE_LINE}"', SHARE_LINE)  # a number once the stack substitutes it


def resource_block() -> str:
    """The template's dashboard resource (a `!Sub` of the JSON body: ${...} are the stack's names)."""
    indented = "\n".join("        " + line for line in body_text().splitlines())
    return (
        BEGIN
        + "  OperationsDashboard:\n"
        + "    Type: AWS::CloudWatch::Dashboard\n"
        + "    Properties:\n"
        + "      DashboardName: !Sub ${AWS::StackName}-operations\n"
        + "      DashboardBody: !Sub |\n"
        + indented
        + "\n"
        + END
    )


def rendered_template(text: str) -> str:
    """`text` (template.yaml) with its generated block replaced by what this module produces."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + resource_block() + text[end:]


def main() -> int:
    text = TEMPLATE.read_text()
    new = rendered_template(text)
    if new != text:
        TEMPLATE.write_text(new)
        print(f"{TEMPLATE.name}: dashboard regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
