"""POST /cds-services/{id}/feedback: CDS Hooks 2.0.1 feedback, validated and stored durably.

Requirement ids (``test_req_<ID>``) are the rows of cds-hooks-2.0-requirements.csv.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.store.conftest import FEEDBACK_URL, accepted, card, overridden
from tests.store.helpers import accepted_suggestion_count, feedback_count, feedback_rows, issue


def post(client: FlaskClient, body: Any, url: str = FEEDBACK_URL) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def issues_of(response: Any) -> list[tuple[str | None, str]]:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return [
        ((issue.get("expression") or [None])[0], issue["diagnostics"]) for issue in body["issue"]
    ]


def assert_rejected(client: FlaskClient, app: Flask, body: Any, field: str) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    expressions = [expression for expression, _ in issues_of(response)]
    assert field in expressions, expressions
    assert feedback_count(app) == 0


@pytest.fixture
def issued(store_app: Flask) -> Flask:
    issue(
        store_app,
        card(
            "card-r4",
            "R4",
            ("sugg-dxa", "ServiceRequest"),
            ("sugg-alendronate", "MedicationRequest"),
        ),
        card("card-r2", "R2"),
    )
    return store_app


@pytest.fixture
def rejecting(shared_store_app: Flask) -> Flask:
    """A shared app for requests that must be refused: they leave the store empty."""
    issue(
        shared_store_app,
        card("card-r4", "R4", ("sugg-dxa", "ServiceRequest")),
        card("card-r2", "R2"),
    )
    assert feedback_count(shared_store_app) == 0
    return shared_store_app


@pytest.fixture
def rejecting_client(rejecting: Flask) -> FlaskClient:
    return rejecting.test_client()


# ----------------------------------------------------------------------- accepted feedback


def test_req_148_152_feedback_endpoint_stores_accepted_and_overridden(
    issued: Flask, store_client: FlaskClient
) -> None:
    response = post(
        store_client,
        {
            "feedback": [
                accepted("card-r4", "sugg-dxa", "sugg-alendronate"),
                overridden("card-r2", "patient-declined", comment="prefers to wait"),
            ]
        },
    )
    assert response.status_code == 200
    assert response.get_json() == {"received": 2, "stored": 2, "duplicates": 0, "unknownCards": 0}
    rows = feedback_rows(issued)
    assert {(r["card_uuid"], r["outcome"], r["unknown_card"]) for r in rows} == {
        ("card-r4", "accepted", False),
        ("card-r2", "overridden", False),
    }
    by_card = {r["card_uuid"]: r for r in rows}
    assert by_card["card-r2"]["override_code"] == "patient-declined"
    assert by_card["card-r2"]["override_system"] == "urn:osteopenia-cds:override-reason"
    assert by_card["card-r2"]["user_comment"] == "prefers to wait"
    assert accepted_suggestion_count(issued) == 2


# ----------------------------------------------------------------------- the document


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "feedback"),
        ({"feedback": {"card": "card-r4"}}, "feedback"),
        ({"feedback": []}, "feedback"),
        ({"feedback": None}, "feedback"),
        ([accepted("card-r4", "sugg-dxa")], "$"),
        ({"feedback": ["card-r4"]}, "feedback[0]"),
    ],
    ids=["missing", "object", "empty", "null", "bare-array", "item-not-object"],
)
def test_req_154_body_is_an_object_with_a_feedback_array(
    rejecting: Flask, rejecting_client: FlaskClient, body: Any, field: str
) -> None:
    assert_rejected(rejecting_client, rejecting, body, field)


# ----------------------------------------------------------------------- card


@pytest.mark.parametrize(
    ("value", "present"),
    [(None, False), (None, True), (42, True), ("", True), ("   ", True), ("x" * 129, True)],
    ids=["missing", "null", "number", "empty", "blank", "too-long"],
)
def test_req_155_card_is_a_required_string(
    rejecting: Flask, rejecting_client: FlaskClient, value: Any, present: bool
) -> None:
    item = accepted("card-r4", "sugg-dxa")
    del item["card"]
    if present:
        item["card"] = value
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].card")


# ----------------------------------------------------------------------- outcome


@pytest.mark.parametrize(
    "value",
    [None, "rejected", "ACCEPTED", 1, ["accepted"]],
    ids=["null", "unknown-word", "upper-case", "number", "array"],
)
def test_req_156_157_outcome_is_accepted_or_overridden(
    rejecting: Flask, rejecting_client: FlaskClient, value: Any
) -> None:
    item = overridden("card-r2")
    item["outcome"] = value
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].outcome")


def test_req_156_outcome_is_required(rejecting: Flask, rejecting_client: FlaskClient) -> None:
    item = overridden("card-r2")
    del item["outcome"]
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].outcome")


# ----------------------------------------------------------------------- acceptedSuggestions


@pytest.mark.parametrize(
    "value",
    [None, [], {"id": "sugg-dxa"}, "sugg-dxa"],
    ids=["missing", "empty", "object", "string"],
)
def test_req_158_accepted_suggestions_required_when_accepted(
    rejecting: Flask, rejecting_client: FlaskClient, value: Any
) -> None:
    item = accepted("card-r4", "sugg-dxa")
    if value is None:
        del item["acceptedSuggestions"]
    else:
        item["acceptedSuggestions"] = value
    assert_rejected(
        rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].acceptedSuggestions"
    )


def test_req_158_accepted_suggestions_refused_on_overridden_outcome(
    rejecting: Flask, rejecting_client: FlaskClient
) -> None:
    item = overridden("card-r2")
    item["acceptedSuggestions"] = [{"id": "sugg-dxa"}]
    assert_rejected(
        rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].acceptedSuggestions"
    )


@pytest.mark.parametrize(
    ("suggestion", "field"),
    [
        ({}, "feedback[0].acceptedSuggestions[0].id"),
        ({"id": 7}, "feedback[0].acceptedSuggestions[0].id"),
        ({"id": ""}, "feedback[0].acceptedSuggestions[0].id"),
        ("sugg-dxa", "feedback[0].acceptedSuggestions[0]"),
    ],
    ids=["no-id", "number", "empty", "bare-string"],
)
def test_req_162_accepted_suggestion_id_is_a_required_string(
    rejecting: Flask, rejecting_client: FlaskClient, suggestion: Any, field: str
) -> None:
    item = accepted("card-r4", "sugg-dxa")
    item["acceptedSuggestions"] = [suggestion]
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, field)


# ----------------------------------------------------------------------- overrideReason


def test_req_160_override_reason_is_optional(issued: Flask, store_client: FlaskClient) -> None:
    response = post(store_client, {"feedback": [overridden("card-r2")]})
    assert response.status_code == 200
    [row] = feedback_rows(issued)
    assert row["override_code"] is None and row["user_comment"] is None


@pytest.mark.parametrize(
    "value",
    ["patient-declined", ["patient-declined"], {}, {"note": "x"}],
    ids=["string", "array", "empty", "neither-reason-nor-comment"],
)
def test_req_159_override_reason_is_an_override_reason_object(
    rejecting: Flask, rejecting_client: FlaskClient, value: Any
) -> None:
    item = overridden("card-r2")
    item["overrideReason"] = value
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].overrideReason")


def test_req_159_override_reason_refused_on_accepted_outcome(
    rejecting: Flask, rejecting_client: FlaskClient
) -> None:
    item = accepted("card-r4", "sugg-dxa")
    item["overrideReason"] = {"userComment": "contradiction"}
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].overrideReason")


@pytest.mark.parametrize(
    ("reason", "field"),
    [
        ("patient-declined", "feedback[0].overrideReason.reason"),
        ({"code": "patient-declined"}, "feedback[0].overrideReason.reason.system"),
        ({"system": "urn:x"}, "feedback[0].overrideReason.reason.code"),
        ({"system": "urn:x", "code": 3}, "feedback[0].overrideReason.reason.code"),
        ({"system": 3, "code": "a"}, "feedback[0].overrideReason.reason.system"),
        (
            {"system": "urn:x", "code": "a", "display": 5},
            "feedback[0].overrideReason.reason.display",
        ),
    ],
    ids=["string", "no-system", "no-code", "code-number", "system-number", "display-number"],
)
def test_req_165_override_reason_reason_is_a_coding(
    rejecting: Flask, rejecting_client: FlaskClient, reason: Any, field: str
) -> None:
    item = overridden("card-r2")
    item["overrideReason"] = {"reason": reason}
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, field)


@pytest.mark.parametrize(
    "comment", [5, ["text"], "", "x" * 4001], ids=["number", "array", "empty", "too-long"]
)
def test_req_166_user_comment_is_a_string(
    rejecting: Flask, rejecting_client: FlaskClient, comment: Any
) -> None:
    item = overridden("card-r2")
    item["overrideReason"] = {"userComment": comment}
    assert_rejected(
        rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].overrideReason.userComment"
    )


def test_req_166_user_comment_alone_is_stored(issued: Flask, store_client: FlaskClient) -> None:
    response = post(store_client, {"feedback": [overridden("card-r2", comment="already on it")]})
    assert response.status_code == 200
    [row] = feedback_rows(issued)
    assert row["user_comment"] == "already on it" and row["override_code"] is None


# ----------------------------------------------------------------------- outcomeTimestamp


@pytest.mark.parametrize(
    "value",
    [
        None,
        1732530000,
        "2026-11-20",
        "2026-11-20T10:05:31",
        "2026-11-20 10:05:31Z",
        "2026-13-20T10:05:31Z",
        "2026-11-20T25:05:31Z",
        "20 Nov 2026 10:05:31 GMT",
        "2026-11-20T10:05:31+0200",
    ],
    ids=[
        "null",
        "epoch-number",
        "date-only",
        "no-offset",
        "space-separator",
        "month-13",
        "hour-25",
        "http-date",
        "offset-without-colon",
    ],
)
def test_req_161_outcome_timestamp_is_rfc3339(
    rejecting: Flask, rejecting_client: FlaskClient, value: Any
) -> None:
    item = overridden("card-r2")
    item["outcomeTimestamp"] = value
    assert_rejected(
        rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].outcomeTimestamp"
    )


def test_req_161_outcome_timestamp_is_required(
    rejecting: Flask, rejecting_client: FlaskClient
) -> None:
    item = overridden("card-r2")
    del item["outcomeTimestamp"]
    assert_rejected(
        rejecting_client, rejecting, {"feedback": [item]}, "feedback[0].outcomeTimestamp"
    )


def test_req_161_outcome_timestamp_stored_in_utc(issued: Flask, store_client: FlaskClient) -> None:
    item = overridden("card-r2", at="2026-11-20T12:05:31.250+02:00")
    assert post(store_client, {"feedback": [item]}).status_code == 200
    [row] = feedback_rows(issued)
    stamp = row["outcome_timestamp"]
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    assert stamp == datetime(2026, 11, 20, 10, 5, 31, 250_000, tzinfo=UTC)


# ----------------------------------------------------------------------- errors in a batch


def test_every_error_of_a_batch_is_named_with_its_index(
    rejecting: Flask, rejecting_client: FlaskClient
) -> None:
    bad_outcome = overridden("card-r2")
    bad_outcome["outcome"] = "ignored"
    no_stamp = accepted("card-r4", "sugg-dxa")
    del no_stamp["outcomeTimestamp"]
    body = {"feedback": [accepted("card-r4", "sugg-dxa"), bad_outcome, no_stamp]}
    response = post(rejecting_client, body)
    assert response.status_code == 400
    expressions = [expression for expression, _ in issues_of(response)]
    assert expressions == ["feedback[1].outcome", "feedback[2].outcomeTimestamp"]
    assert feedback_count(rejecting) == 0


# ----------------------------------------------------------------------- HTTP envelope


def test_unknown_service_is_404(rejecting: Flask, rejecting_client: FlaskClient) -> None:
    response = post(
        rejecting_client,
        {"feedback": [overridden("card-r2")]},
        "/cds-services/no-such-service/feedback",
    )
    assert response.status_code == 404
    assert "no-such-service" in issues_of(response)[0][1]
    assert feedback_count(rejecting) == 0


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"],
    ids=["none", "text", "form", "xml"],
)
def test_wrong_content_type_is_415(
    rejecting: Flask, rejecting_client: FlaskClient, content_type: str | None
) -> None:
    body = json.dumps({"feedback": [overridden("card-r2")]})
    headers = {"Content-Type": content_type} if content_type else {}
    response = rejecting_client.post(FEEDBACK_URL, data=body, headers=headers)
    assert response.status_code == 415
    assert feedback_count(rejecting) == 0


def test_json_with_charset_parameter_is_accepted(issued: Flask, store_client: FlaskClient) -> None:
    response = store_client.post(
        FEEDBACK_URL,
        data=json.dumps({"feedback": [overridden("card-r2")]}),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"feedback": [}', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000],
    ids=["empty", "truncated", "syntax", "not-utf8", "deeply-nested"],
)
def test_malformed_body_is_400(rejecting: Flask, rejecting_client: FlaskClient, raw: bytes) -> None:
    response = rejecting_client.post(FEEDBACK_URL, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert feedback_count(rejecting) == 0


def test_too_many_items_is_413(rejecting: Flask, rejecting_client: FlaskClient) -> None:
    body = {
        "feedback": [
            overridden("card-r2", at=f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}Z")
            for i in range(1001)
        ]
    }
    response = post(rejecting_client, body)
    assert response.status_code == 413
    assert feedback_count(rejecting) == 0


def test_body_over_the_size_limit_is_413(make_store_app: Any) -> None:
    app = make_store_app(max_body_bytes=2048)
    body = {"feedback": [overridden("card-r2", comment="x" * 3000)]}
    response = post(app.test_client(), body)
    assert response.status_code == 413
    assert feedback_count(app) == 0


def test_get_is_405(rejecting_client: FlaskClient) -> None:
    assert rejecting_client.get(FEEDBACK_URL).status_code == 405


# ----------------------------------------------------------------------- idempotency


def test_same_feedback_sent_twice_is_stored_once(issued: Flask, store_client: FlaskClient) -> None:
    body = {
        "feedback": [accepted("card-r4", "sugg-dxa"), overridden("card-r2", "patient-declined")]
    }
    first = post(store_client, body)
    second = post(store_client, body)
    assert first.status_code == second.status_code == 200
    assert second.get_json() == {"received": 2, "stored": 0, "duplicates": 2, "unknownCards": 0}
    assert feedback_count(issued) == 2
    assert accepted_suggestion_count(issued) == 1


def test_same_item_twice_in_one_batch_is_stored_once(
    issued: Flask, store_client: FlaskClient
) -> None:
    item = overridden("card-r2", "patient-declined")
    response = post(store_client, {"feedback": [item, dict(item)]})
    assert response.status_code == 200
    assert response.get_json()["stored"] == 1
    assert feedback_count(issued) == 1


def test_equivalent_timestamps_and_suggestion_order_are_the_same_feedback(
    issued: Flask, store_client: FlaskClient
) -> None:
    first = accepted("card-r4", "sugg-dxa", "sugg-alendronate", at="2026-11-20T10:05:31Z")
    again = accepted("card-r4", "sugg-alendronate", "sugg-dxa", at="2026-11-20T11:05:31.000+01:00")
    assert post(store_client, {"feedback": [first]}).status_code == 200
    assert post(store_client, {"feedback": [again]}).get_json()["stored"] == 0
    assert feedback_count(issued) == 1


def test_different_feedback_for_the_same_card_is_kept(
    issued: Flask, store_client: FlaskClient
) -> None:
    # A clinician may override a card and accept it at a later visit: two outcomes.
    body = {
        "feedback": [
            overridden("card-r4", "not-now", at="2026-11-20T10:00:00Z"),
            accepted("card-r4", "sugg-dxa", at="2026-11-21T10:00:00Z"),
        ]
    }
    assert post(store_client, body).get_json()["stored"] == 2
    assert feedback_count(issued) == 2


# ----------------------------------------------------------------------- atomicity


def test_batch_with_one_bad_item_stores_nothing(issued: Flask, store_client: FlaskClient) -> None:
    bad = accepted("card-r4", "sugg-dxa")
    bad["acceptedSuggestions"] = []
    body = {"feedback": [accepted("card-r4", "sugg-dxa"), overridden("card-r2"), bad]}
    response = post(store_client, body)
    assert response.status_code == 400
    assert feedback_count(issued) == 0


def test_database_failure_mid_batch_stores_nothing_and_is_503(
    issued: Flask, store_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    engine = issued.extensions["store"].engine
    inserts = {"n": 0}

    def fail_on_second_suggestion_insert(
        conn: Any, cursor: Any, statement: str, *args: Any
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FEEDBACK_SUGGESTIONS"):
            inserts["n"] += 1
            if inserts["n"] == 2:
                raise OperationalError(statement, {}, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail_on_second_suggestion_insert)
    try:
        body = {
            "feedback": [
                accepted("card-r4", "sugg-dxa"),
                overridden("card-r2", "patient-declined", comment="private note on Mrs Smith"),
                accepted("card-r4", "sugg-alendronate", at="2026-11-21T09:00:00Z"),
            ]
        }
        with caplog.at_level(logging.DEBUG):
            response = post(store_client, body)
    finally:
        event.remove(engine, "before_cursor_execute", fail_on_second_suggestion_insert)
    assert inserts["n"] == 2
    assert "OperationalError" in caplog.text
    assert "Mrs Smith" not in caplog.text and "card-r2" not in caplog.text
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert feedback_count(issued) == 0
    assert accepted_suggestion_count(issued) == 0
    # The client's retry succeeds and stores the whole batch once.
    retry = post(store_client, body)
    assert retry.status_code == 200 and retry.get_json()["stored"] == 3


# ----------------------------------------------------------------------- unknown cards


def test_feedback_for_a_card_never_issued_is_stored_and_marked(
    issued: Flask, store_client: FlaskClient
) -> None:
    body = {"feedback": [overridden("card-from-elsewhere", "not-relevant"), overridden("card-r2")]}
    response = post(store_client, body)
    assert response.status_code == 200
    assert response.get_json()["unknownCards"] == 1
    marks = {row["card_uuid"]: row["unknown_card"] for row in feedback_rows(issued)}
    assert marks == {"card-from-elsewhere": True, "card-r2": False}


# ----------------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda i: i.update(card="card\x00r2"), "feedback[0].card"),
        (lambda i: i.update(card="card-\ud800"), "feedback[0].card"),
        (
            lambda i: i.update(overrideReason={"userComment": "nul \x00 inside"}),
            "feedback[0].overrideReason.userComment",
        ),
        (
            lambda i: i.update(overrideReason={"userComment": "half \udc00 pair"}),
            "feedback[0].overrideReason.userComment",
        ),
        (
            lambda i: i.update(
                overrideReason={"reason": {"system": "urn:x", "code": "a", "display": "\ud83d"}}
            ),
            "feedback[0].overrideReason.reason.display",
        ),
        (
            lambda i: i.update(outcomeTimestamp="0001-01-01T00:30:00+01:00"),
            "feedback[0].outcomeTimestamp",
        ),
        (
            lambda i: i.update(outcomeTimestamp="9999-12-31T23:59:59-01:00"),
            "feedback[0].outcomeTimestamp",
        ),
    ],
    ids=[
        "nul-in-card",
        "surrogate-in-card",
        "nul-in-comment",
        "surrogate-in-comment",
        "surrogate-in-display",
        "before-year-1-in-utc",
        "after-year-9999-in-utc",
    ],
)
def test_text_no_database_can_store_is_a_400_not_a_500(
    rejecting: Flask, rejecting_client: FlaskClient, mutate: Any, field: str
) -> None:
    item = overridden("card-r2")
    mutate(item)
    assert_rejected(rejecting_client, rejecting, {"feedback": [item]}, field)


def test_multiline_unicode_comment_is_stored_verbatim(
    issued: Flask, store_client: FlaskClient
) -> None:
    comment = "Patientin lehnt ab.\n\tBespricht es mit der Tochter — 😊 (ß, é, 中文)"
    response = post(store_client, {"feedback": [overridden("card-r2", comment=comment)]})
    assert response.status_code == 200
    assert feedback_rows(issued)[0]["user_comment"] == comment
