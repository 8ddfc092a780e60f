"""Schemathesis against the app's own /openapi.json with all of its checks (`st run --checks all`).

Every operation gets generated valid and invalid inputs: an answer must not be a 5xx, must be a documented status
with the documented content type and body, must accept what the schema allows and refuse what it does not; a
stateful run chains operations through the links schemathesis finds (saved results: create, read, delete) for the
resource checks. In `make test` the app runs in-process with a few examples per operation; `make bench` runs the
same tests against a real uvicorn server with more examples (ATTNVIZ_FUZZ_BASE_URL, ATTNVIZ_FUZZ_EXAMPLES) and
records the counts (ATTNVIZ_FUZZ_REPORT).
"""

import atexit
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config._checks import MaxResponseTimeConfig
from schemathesis.core.failures import Failure, FailureGroup, ServerError
from schemathesis.openapi.checks import RejectedPositiveData

from app.main import create_app

BASE_URL = os.environ.get("ATTNVIZ_FUZZ_BASE_URL")
EXAMPLES = int(os.environ.get("ATTNVIZ_FUZZ_EXAMPLES", "5"))  # per operation, after schemathesis' coverage cases
STATEFUL_EXAMPLES = max(2, EXAMPLES // 2)  # scenarios of the stateful run
REPORT = os.environ.get("ATTNVIZ_FUZZ_REPORT")

APP = None if BASE_URL else create_app()
schema = (
    schemathesis.openapi.from_url(f"{BASE_URL}/openapi.json")
    if BASE_URL
    else schemathesis.openapi.from_asgi("/openapi.json", APP)
)
schema.config.checks.update(included_check_names=["all"])  # what `st run --checks all` runs
# The response-time check's limit: 30 s, not the default 10 s. The largest request the schema allows (an
# attribution of 4096 rows x steps) takes several seconds on this 2-core machine when nothing else runs, and
# more when it is shared; 30 s still catches a request that hangs.
schema.config.checks.max_response_time = MaxResponseTimeConfig(limit=30.0)
# "all" includes max_response_time (default limit 10 s). A model's first request also loads it (SmolLM2
# dequantises 98 MB of GGUF): every available model is loaded first (in-process, or by one request each on a live
# server), so the limit times requests.


@pytest.fixture(scope="module", autouse=True)
def _models_loaded() -> None:
    if APP is not None:
        registry = APP.state.registry
        for status in registry.statuses():
            if status.available:
                registry.get(status.spec.id)
        return
    _warm_live_server(str(BASE_URL))


def _warm_live_server(url: str) -> None:
    """One small request per available model of a live server (make bench), so each model is loaded first."""
    import httpx

    from app.api.routes.samples import sample_jpeg

    with httpx.Client(base_url=url, timeout=300) as http:
        for m in http.get("/api/models").json():
            if not m["available"]:
                continue
            if m["task"] in ("vision", "captioning"):
                files = {"file": ("c.jpg", sample_jpeg("chelsea"), "image/jpeg")}
                http.post("/api/attention/image", data={"model": m["id"]}, files=files)
            elif m["task"] == "speech":
                clips = http.get("/api/audio-samples").json()
                if clips:
                    wav = http.get(clips[0]["url"]).content
                    http.post("/api/attention/audio", data={"model": m["id"]}, files={"file": ("c.wav", wav)})
            else:
                http.post("/api/attention/text", json={"model": m["id"], "text": "Hello there."})
load_all_checks()
CHECK_NAMES = sorted(name for name in CHECKS.get_all_names() if schema.config.checks.get_by_name(name=name).enabled)

# The only answers not held against the schema: refusals that depend on the server's state (weights not installed
# here, every inference slot busy) or on what a valid input holds (how many tokens a tokenizer makes of a text, how
# long the model's own output is, whether uploaded bytes are a readable image), which no JSON Schema can state.
# Each is named by the sentence the server answers with; every other 503 or 422 for schema-valid data fails.
STATE_503 = {  # not_a_server_error
    "model missing here": r"^Model '[^']+' cannot be loaded here: ",  # declared, but its weights are not here
    "server busy": r"^The server is busy with other requests",  # every inference slot taken (Retry-After)
    "aligner missing here": r"^The reference aligner is not available here",  # eflomal priors not installed
}
CONTENT_422 = {  # positive_data_acceptance
    "tokens over the model's limit": r"^The text is \d+ tokens long; (this model reads|attributions run on) at most",
    # SmolLM2's tokenizer makes no token of some non-blank texts (a lone control character such as U+0014, which a
    # fresh-clone CI's fuzzing drew); the other models answer it with their special tokens alone
    "no tokens for this tokenizer": r"^The text has no tokens; type a sentence\.$",
    "tokens over a panel's limit": r"^(The sentence is \d+ tokens long; this panel shows|Keep it under \d+ tokens)",
    "not a readable image": r"^(The upload is|SVG is a vector format|The image (has|is|holds)|The \w+ file is "
    r"truncated|Pixels of mode)",
    "not a readable clip": r"^(The upload is|The \w+ file (says|has|holds|is|uses|cannot)|The clip is [\d.]+ s long"
    r"|The audio holds)",
    "too many values for this clip": r"^These maps hold [\d,]+ numbers; one answer carries at most",
    "output too short or long": r"^(Target \d+ does not exist; the output has rows"
    r"|\d+ rows x \d+ steps (over \d+ input and output tokens )?is too much"
    r"|The input has \d+ positions|The model (generated nothing|produced no token)|There is nothing to align)",
}

CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()
EXCUSED: Counter[str] = Counter()


def _write_report() -> None:
    if REPORT:
        report = {
            "cases": sum(CASES.values()),
            "checks": CHECK_NAMES,
            "failures": sum(FAILURES.values()),
            "failures_by_operation": FAILURES,
            "excused": EXCUSED,
            "per_operation": CASES,
            "statuses": STATUSES,
        }
        Path(REPORT).write_text(json.dumps(report, indent=2))


atexit.register(_write_report)


def _excuse(failure: Failure, response: Any) -> str | None:
    """Which state or content refusal a failure is, if it is one."""
    try:
        detail = str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        return None
    reasons = (
        STATE_503 if isinstance(failure, ServerError) and response.status_code == 503
        else CONTENT_422 if isinstance(failure, RejectedPositiveData) and response.status_code == 422
        else {}
    )  # fmt: skip
    return next((name for name, pattern in reasons.items() if re.search(pattern, detail)), None)


def validate(case: schemathesis.Case, response: Any, **kwargs: Any) -> None:
    """All enabled checks; count the case, and raise for every failure that is not an excused refusal."""
    key = f"{case.operation.method.upper()} {case.operation.path}"
    CASES[key] += 1
    STATUSES[f"{key} {response.status_code}"] += 1
    try:
        case.validate_response(response, **kwargs)
    except FailureGroup as group:
        left = []
        for failure in group.exceptions:
            reason = _excuse(failure, response)
            if reason is None:
                left.append(failure)
            else:
                EXCUSED[reason] += 1
        if left:
            FAILURES[key] += len(left)
            raise FailureGroup(left, group.message) from None


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case) -> None:
    response = case.call(base_url=BASE_URL) if BASE_URL else case.call()
    validate(case, response)


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along the links schemathesis infers (e.g. POST /api/results/text -> GET/DELETE its id)."""

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
        return {"base_url": BASE_URL} if BASE_URL else {}

    def validate_response(self, response: Any, case: schemathesis.Case, additional_checks: Any = None,
                          **kwargs: Any) -> None:  # fmt: skip
        validate(case, response, transport_kwargs=kwargs or None, recorder=self.recorder)


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(
    max_examples=STATEFUL_EXAMPLES,
    stateful_step_count=6,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
