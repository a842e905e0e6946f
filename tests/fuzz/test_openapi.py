"""schemathesis against `/openapi.json`: every route, generated bodies and parameters. No
request may get a 5xx, and every response must match the schema the document declares.

`make test` runs a bounded number of examples per route (HIVELOG_FUZZ_EXAMPLES, default 10);
`make fuzz` runs many more.
"""

from __future__ import annotations

import os

import hypothesis
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server

EXAMPLES = int(os.environ.get("HIVELOG_FUZZ_EXAMPLES", "10"))
# What the issue promises. Not "schema-valid data is accepted": a body can match the schema and
# still be wrong (an unknown event_type, a time that is no date), and that is a 400.
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def test_no_5xx_and_responses_match_the_schema(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=os.environ.get("HIVELOG_FUZZ_RANDOM") is None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(base_url=server.url, checks=CHECKS)

        try:
            run()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # schemathesis' FailureGroup: collect, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
    print(f"\nschemathesis: {operations} operations, {cases} cases, {len(failures)} failing")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
