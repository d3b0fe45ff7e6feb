"""Builders of Bugsink API payloads and typed objects for unit tests."""

from typing import Any

from syncapp.bugsink import BugsinkIssue, BugsinkProject
from syncapp.events import BugsinkEvent, parse_event

PROJECT = BugsinkProject(id=1, name="Backend", slug="backend-prod")


def issue_payload(number: int = 1, **overrides: Any) -> dict[str, Any]:
    payload = {
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "friendly_id": f"BACKEND-{number}",
        "project": 1,
        "digest_order": number,
        "first_seen": "2026-12-01T10:00:00Z",
        "last_seen": "2026-12-04T09:30:00Z",
        "digested_event_count": 7,
        "stored_event_count": 7,
        "calculated_type": "ValueError",
        "calculated_value": f"invalid literal number {number}",
        "transaction": "api.views.orders",
        "is_resolved": False,
        "is_muted": False,
        "fixed_at": [],
        "events_at": [],
        "unmute_on_volume_based_conditions": [],
    }
    payload.update(overrides)
    return payload


def make_issue(number: int = 1, **overrides: Any) -> BugsinkIssue:
    return BugsinkIssue.from_api(issue_payload(number, **overrides))


def event_payload(**data_overrides: Any) -> dict[str, Any]:
    data = {
        "event_id": "4f1c2b3a4d5e4f60a1b2c3d4e5f60718",
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "backend@1.4.2",
        "server_name": "api-1",
        "transaction": "/orders/",
        "request": {"url": "https://shop.example.com/orders/?page=2", "method": "POST"},
        "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
        "tags": [["browser", "Firefox"], ["customer_tier", "gold"]],
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "invalid literal for int() with base 10: 'x'",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "api/views.py",
                                "lineno": 42,
                                "function": "create_order",
                                "context_line": "    quantity = int(request.POST['qty'])",
                                "vars": {"password": "hunter2"},
                                "in_app": True,
                            },
                            {
                                "filename": "api/parsing.py",
                                "lineno": 7,
                                "function": "parse",
                                "context_line": "    return int(value)",
                                "in_app": True,
                            },
                        ]
                    },
                }
            ]
        },
    }
    data.update(data_overrides)
    return {
        "id": "9a8b7c6d-0000-4000-8000-000000000001",
        "event_id": "4f1c2b3a-4d5e-4f60-a1b2-c3d4e5f60718",
        "timestamp": "2026-12-04T09:30:00Z",
        "data": data,
    }


def make_event(**data_overrides: Any) -> BugsinkEvent:
    return parse_event(event_payload(**data_overrides))
