import pytest

from syncapp.labels import LABELS, plan_labels


def test_record_labels_and_colours() -> None:
    assert {label.name: label.color for label in LABELS} == {
        "bug:frontend": "e11d48",
        "bug:backend": "ea580c",
        "bug:infrastructure": "7c3aed",
        "env:production": "dc2626",
        "env:test": "2563eb",
        "env:development": "6b7280",
        "source:bugsink": "10b981",
    }


@pytest.mark.parametrize(
    ("slug", "name", "expected"),
    [
        ("backend-prod", "Backend", ["bug:backend", "env:production", "source:bugsink"]),
        ("backend-test", "Backend (test)", ["bug:backend", "env:test", "source:bugsink"]),
        ("frontend-production", "Web", ["bug:frontend", "env:production", "source:bugsink"]),
        ("web-staging", "Web staging", ["bug:frontend", "env:test", "source:bugsink"]),
        (
            "infra-prod",
            "Infrastructure",
            ["bug:infrastructure", "env:production", "source:bugsink"],
        ),
        ("infrastructure_dev", "x", ["bug:infrastructure", "env:development", "source:bugsink"]),
    ],
)
def test_plan_infers_kind_and_environment(slug: str, name: str, expected: list[str]) -> None:
    plan = plan_labels(slug, name)

    assert plan.label_names == expected
    assert plan.is_mapped


def test_unknown_project_gets_only_source_label() -> None:
    plan = plan_labels("billing", "Billing")

    assert plan.label_names == ["source:bugsink"]
    assert not plan.is_mapped


def test_ambiguous_words_leave_kind_unmapped() -> None:
    plan = plan_labels("frontend-backend-prod", "Monolith")

    assert plan.kind is None
    assert plan.environment == "production"
    assert plan.label_names == ["env:production", "source:bugsink"]


def test_explicit_mapping_overrides_inference() -> None:
    plan = plan_labels("frontend-prod", "Frontend", ("infrastructure", "test"))

    assert plan.label_names == ["bug:infrastructure", "env:test", "source:bugsink"]
    assert plan.explicit


def test_explicit_mapping_part_falls_back_to_inference() -> None:
    plan = plan_labels("billing-prod", "Billing", ("backend", None))

    assert plan.label_names == ["bug:backend", "env:production", "source:bugsink"]


def test_words_match_whole_words_only() -> None:
    plan = plan_labels("product-devices", "Products and devices")

    assert plan.environment is None
    assert plan.kind is None
