"""Property-based fuzzing of the real server from its own OpenAPI schema (schemathesis + hypothesis).

Every generated request, valid or not, must get no 5xx, a documented status and content type, and a
body that matches the schema. The examples per operation are few here; raise MASKWATCH_FUZZ_EXAMPLES for a long run.
"""
import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("MASKWATCH_FUZZ_EXAMPLES", "20"))


def test_every_answer_is_documented_and_never_a_5xx(server):
    base, _ = server
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/classify", "/v1/annotate", "/v1/info", "/healthz", "/readyz"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                           response_schema_conformance])

        check()
