"""Check HTTP requests and responses against Gitea's own API description (swagger 2.0).

The description is read from the shared contracts folder next to the repository, or from
the file named by GITEA_SWAGGER_PATH. It is never copied into this project.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

SWAGGER_FILE_NAME = "gitea-swagger-1.27.1.json"
SWAGGER_ENV_VAR = "GITEA_SWAGGER_PATH"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# RFC 3339 as Go's time.Parse(time.RFC3339, ...) accepts it: a "T", seconds and an offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_INTEGER = re.compile(r"^-?\d+$")
# Keys of a swagger schema that hold sub-schemas, and how they hold them.
_SCHEMA_MAPS = ("properties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_SINGLE = ("items", "additionalProperties", "not")


class SwaggerNotFoundError(FileNotFoundError):
    """The Gitea API description is not at the expected path."""


def locate_swagger() -> Path:
    """Return GITEA_SWAGGER_PATH, else the description in ../shared/contracts of the repository."""
    override = os.environ.get(SWAGGER_ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "contracts" / SWAGGER_FILE_NAME


def load_swagger(path: Path | None = None) -> dict[str, Any]:
    """Load the Gitea API description, or raise SwaggerNotFoundError naming the missing path."""
    path = path or locate_swagger()
    if not path.is_file():
        raise SwaggerNotFoundError(
            f"Gitea API description not found at {path}; "
            f"set {SWAGGER_ENV_VAR} to the path of {SWAGGER_FILE_NAME}"
        )
    return _load_swagger_cached(str(path.resolve()))


@cache
def _load_swagger_cached(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _build_format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.upper())
        return True

    @checker.checks("int64")
    def is_int64(value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return True
        return _INT64_MIN <= value <= _INT64_MAX

    return checker


FORMAT_CHECKER = _build_format_checker()


@dataclass(frozen=True)
class Operation:
    """One operation of the description, matched against a concrete request path."""

    method: str
    template: str
    operation_id: str
    path_params: dict[str, str]
    spec: dict[str, Any]


class GiteaContract:
    """Request and response checks for the operations of one Gitea API description."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        self.swagger = swagger
        self.base_path: str = swagger.get("basePath", "")
        self._definitions: dict[str, Any] = swagger.get("definitions", {})
        self._schema_cache: dict[tuple[str, bool], dict[str, Any]] = {}
        self._security_query_params = {
            scheme["name"]
            for scheme in swagger.get("securityDefinitions", {}).values()
            if scheme.get("in") == "query"
        }
        self._routes = self._compile_routes(swagger.get("paths", {}))

    @classmethod
    def from_file(cls, path: Path | None = None) -> GiteaContract:
        return cls(load_swagger(path))

    def match(self, method: str, path: str) -> Operation | None:
        """Find the operation for a request path such as /api/v1/repos/acme/errors/issues."""
        if not path.startswith(self.base_path + "/"):
            return None
        relative = path[len(self.base_path) :]
        for template, pattern, operations in self._routes:
            found = pattern.fullmatch(relative)
            if found and method.lower() in operations:
                spec = operations[method.lower()]
                return Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=spec.get("operationId", ""),
                    path_params=found.groupdict(),
                    spec=spec,
                )
        return None

    def check_request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes,
        content_type: str,
    ) -> list[str]:
        """Return the ways a request breaks the description, so an empty list means it conforms."""
        operation = self.match(method, path)
        if operation is None:
            return [f"{method} {path} is not an operation in the Gitea API description"]

        parameters = self._parameters(operation)
        problems = self._check_path_params(operation, parameters)
        problems += self._check_query(operation, parameters, query)
        problems += self._check_body(operation, parameters, body, content_type)
        return [f"{method} {path} ({operation.operation_id}): {p}" for p in problems]

    def check_response(
        self, method: str, path: str, status: int, payload: Any, strict: bool = False
    ) -> list[str]:
        """Return the ways a JSON response breaks the declared schema for its status code.

        Swagger 2.0 cannot mark a property nullable, yet Gitea sends null for unset pointers
        (closed_at, milestone, assignee), so null properties are dropped before checking.
        With strict=True, properties the description does not declare are problems too.
        """
        operation = self.match(method, path)
        if operation is None:
            return [f"{method} {path} is not an operation in the Gitea API description"]
        declared = operation.spec.get("responses", {}).get(str(status))
        if declared is None:
            return [f"{method} {path}: status {status} is not a declared response"]
        declared = self._resolve_ref(declared)
        if "schema" not in declared:
            return []
        schema = self._resolve(declared["schema"], strict)
        return self._validate(schema, _drop_nulls(payload), "response body")

    def _compile_routes(
        self, paths: dict[str, Any]
    ) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
        routes = []
        for template, operations in paths.items():
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            routes.append((template, re.compile(pattern), operations))
        # A literal segment wins over a placeholder, so /issues/comments is not /issues/{index}.
        routes.sort(key=lambda route: route[0].count("{"))
        return routes

    def _parameters(self, operation: Operation) -> list[dict[str, Any]]:
        path_level = self.swagger["paths"][operation.template].get("parameters", [])
        merged = {}
        for parameter in [*path_level, *operation.spec.get("parameters", [])]:
            parameter = self._resolve_ref(parameter)
            merged[(parameter["in"], parameter["name"])] = parameter
        return list(merged.values())

    def _check_path_params(
        self, operation: Operation, parameters: list[dict[str, Any]]
    ) -> list[str]:
        problems = []
        for parameter in parameters:
            if parameter["in"] == "path" and parameter["name"] in operation.path_params:
                value = operation.path_params[parameter["name"]]
                problem = _check_simple_value(parameter, value)
                if problem:
                    problems.append(f"path parameter {parameter['name']!r} {problem}")
        return problems

    def _check_query(
        self,
        operation: Operation,
        parameters: list[dict[str, Any]],
        query: list[tuple[str, str]],
    ) -> list[str]:
        declared = {p["name"]: p for p in parameters if p["in"] == "query"}
        problems = []
        seen: set[str] = set()
        for name, value in query:
            if name in self._security_query_params:
                continue
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"query parameter {name!r} is not declared")
                continue
            if name in seen and parameter.get("type") != "array":
                problems.append(f"query parameter {name!r} is repeated but is not an array")
            seen.add(name)
            problem = _check_simple_value(parameter, value)
            if problem:
                problems.append(f"query parameter {name!r} {problem}")
        for name, parameter in declared.items():
            if parameter.get("required") and name not in seen:
                problems.append(f"required query parameter {name!r} is missing")
        return problems

    def _check_body(
        self,
        operation: Operation,
        parameters: list[dict[str, Any]],
        body: bytes,
        content_type: str,
    ) -> list[str]:
        body_parameter = next((p for p in parameters if p["in"] == "body"), None)
        if body_parameter is None:
            return ["a request body was sent but the operation takes none"] if body else []
        if not body:
            required = body_parameter.get("required", False)
            return ["the required request body is missing"] if required else []

        consumes = operation.spec.get("consumes", self.swagger.get("consumes", []))
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in consumes:
            return [f"content type {content_type!r} is not one of {consumes}"]
        try:
            payload = json.loads(body)
        except ValueError as error:
            return [f"request body is not valid JSON: {error}"]

        # Gitea ignores JSON properties it does not know, so a misspelt field would be dropped
        # silently. The contract check treats undeclared properties as errors instead.
        schema = self._resolve(body_parameter["schema"], strict=True)
        name = body_parameter["schema"].get("$ref", "").rsplit("/", 1)[-1] or "the body schema"
        return self._validate(schema, payload, f"body does not match {name}")

    def _validate(self, schema: dict[str, Any], instance: Any, context: str) -> list[str]:
        validator = Draft4Validator(schema, format_checker=FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [
            f"{context}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in errors
        ]

    def _resolve_ref(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        section, name = ref.removeprefix("#/").split("/", 1)
        return self.swagger[section][name]

    def _resolve(self, schema: dict[str, Any], strict: bool) -> dict[str, Any]:
        ref = schema.get("$ref")
        if ref is not None and set(schema) == {"$ref"}:
            key = (ref, strict)
            if key not in self._schema_cache:
                self._schema_cache[key] = self._inline(schema, strict, ())
            return self._schema_cache[key]
        return self._inline(schema, strict, ())

    def _inline(
        self, schema: dict[str, Any], strict: bool, stack: tuple[str, ...]
    ) -> dict[str, Any]:
        """Copy a schema with every $ref into definitions replaced by the definition itself.

        A definition that refers to itself (Repository.parent) is accepted unchecked from
        the second level on, because draft 4 validation needs a finite schema here.
        """
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.removeprefix("#/definitions/")
            if name in stack:
                return {}
            return self._inline(self._definitions[name], strict, (*stack, name))

        copied: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                copied[key] = {k: self._inline(v, strict, stack) for k, v in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                copied[key] = [self._inline(v, strict, stack) for v in value]
            elif key in _SCHEMA_SINGLE and isinstance(value, dict):
                copied[key] = self._inline(value, strict, stack)
            else:
                copied[key] = value
        if strict and "properties" in copied and "additionalProperties" not in copied:
            copied["additionalProperties"] = False
        return copied


def _check_simple_value(parameter: dict[str, Any], value: str) -> str | None:
    """Check one path or query value against its declared type, format, enum and bounds."""
    kind = parameter.get("type", "string")
    if kind == "integer":
        if not _INTEGER.match(value):
            return f"must be an integer, got {value!r}"
        number = int(value)
        if parameter.get("format") == "int64" and not _INT64_MIN <= number <= _INT64_MAX:
            return f"is outside the int64 range: {value!r}"
        if "minimum" in parameter and number < parameter["minimum"]:
            return f"must be at least {parameter['minimum']}, got {value!r}"
        if "maximum" in parameter and number > parameter["maximum"]:
            return f"must be at most {parameter['maximum']}, got {value!r}"
    elif kind == "boolean" and value not in ("true", "false"):
        return f"must be true or false, got {value!r}"
    elif kind == "string" and parameter.get("format") == "date-time":
        if not FORMAT_CHECKER.conforms(value, "date-time"):
            return f"must be an RFC 3339 date-time, got {value!r}"
    if "enum" in parameter and value not in [str(option) for option in parameter["enum"]]:
        return f"must be one of {parameter['enum']}, got {value!r}"
    return None


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value
