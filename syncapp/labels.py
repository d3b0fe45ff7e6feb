"""The label plan: which Gitea labels a Bugsink project's issues get, and the labels' colours.

A project's kind (frontend, backend, infrastructure) and environment (production, test,
development) come from an explicit ProjectLabelMapping row when there is one, otherwise they
are inferred from the words of the project's name and slug. A project whose kind or
environment stays unknown still syncs, with the labels that are known plus source:bugsink,
and is reported as unmapped.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str  # six hex digits, lowercase, without '#'
    description: str


SOURCE_LABEL = "source:bugsink"

LABELS: tuple[LabelSpec, ...] = (
    LabelSpec("bug:frontend", "e11d48", "Frontend JavaScript errors"),
    LabelSpec("bug:backend", "ea580c", "Backend and API errors"),
    LabelSpec("bug:infrastructure", "7c3aed", "Infrastructure errors (Redis, process managers)"),
    LabelSpec("env:production", "dc2626", "Production environment"),
    LabelSpec("env:test", "2563eb", "Test or staging environment"),
    LabelSpec("env:development", "6b7280", "Development environment"),
    LabelSpec(SOURCE_LABEL, "10b981", "Synced automatically from Bugsink"),
)

KIND_CHOICES = ("frontend", "backend", "infrastructure")
ENVIRONMENT_CHOICES = ("production", "test", "development")

KIND_WORDS: Mapping[str, frozenset[str]] = {
    "frontend": frozenset({"frontend", "front", "fe", "web", "webapp", "ui", "client", "spa"}),
    "backend": frozenset({"backend", "back", "be", "api", "server", "service", "worker"}),
    "infrastructure": frozenset({"infrastructure", "infra", "ops", "devops", "platform"}),
}
ENVIRONMENT_WORDS: Mapping[str, frozenset[str]] = {
    "production": frozenset({"production", "prod", "prd", "live"}),
    "test": frozenset({"test", "testing", "staging", "stage", "stg", "qa", "preprod", "uat"}),
    "development": frozenset({"development", "dev", "local"}),
}
WORD_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class LabelPlan:
    project_slug: str
    kind: str | None
    environment: str | None
    explicit: bool

    @property
    def label_names(self) -> list[str]:
        names = []
        if self.kind:
            names.append(f"bug:{self.kind}")
        if self.environment:
            names.append(f"env:{self.environment}")
        names.append(SOURCE_LABEL)
        return names

    @property
    def is_mapped(self) -> bool:
        return self.kind is not None and self.environment is not None


def words_of(*texts: str) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(word for word in WORD_SPLIT.split(text.lower()) if word)
    return words


def match_one(words: set[str], vocabulary: Mapping[str, frozenset[str]]) -> str | None:
    """Return the single category whose words occur; None when none or several match."""
    matches = [category for category, keywords in vocabulary.items() if words & keywords]
    return matches[0] if len(matches) == 1 else None


def plan_labels(
    slug: str, name: str, explicit: tuple[str | None, str | None] | None = None
) -> LabelPlan:
    """Return the label plan of one Bugsink project.

    `explicit` is (kind, environment) from the project's mapping row; an empty part of it
    falls back to inference.
    """
    words = words_of(slug, name)
    kind, environment = explicit or (None, None)
    return LabelPlan(
        project_slug=slug,
        kind=kind or match_one(words, KIND_WORDS),
        environment=environment or match_one(words, ENVIRONMENT_WORDS),
        explicit=explicit is not None,
    )
