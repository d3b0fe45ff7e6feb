"""Scrubbing of secrets and personal data out of what is posted to Gitea.

A Gitea repository is read by more people than the error tracker, so every text taken from a
Bugsink issue or event passes through a Scrubber before it is rendered:

- a value whose name (header, cookie, query parameter, form field, tag, user field, at any
  nesting) contains a sensitive name such as `password` or `token` is replaced as a whole;
- in free text, the values of `name=value` and `name: value` pairs with such names are
  replaced. So are credentials in URLs, bearer and basic credentials, JWTs, AWS access key
  ids, well-known service tokens, private key blocks, card numbers and the sync's own tokens;
- e-mail addresses and IP addresses are masked unless the settings keep them.

Each replacement leaves a visible marker, so a reader sees that something was removed. The
settings are described in .env.example and in the README ("What is posted to Gitea").
"""

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from syncapp.bugsink import BugsinkIssue
from syncapp.conf import ConfigProblem, ConfigurationError, normalize_token
from syncapp.events import BugsinkEvent, ExceptionInfo, StackFrame

REDACTED = "[redacted]"
EMAIL_MASK = "[email]"
IP_MASK = "[ip]"

# Matched anywhere in a name, ignoring case and the separators - _ and . (so `api_key`
# also matches `X-Api-Key`, `apiKey` and `client.api.key`).
DEFAULT_SENSITIVE_NAMES = (
    "authorization",
    "cookie",
    "set-cookie",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "session",
    "sessid",
    "csrf",
    "credential",
)

# Each text is scrubbed up to this length and the rest dropped, which keeps a 10 MB message
# cheap. A Gitea issue shows at most 60,000 characters of any field, so a secret split by
# this cut lies in a part that is never posted.
MAX_SCRUBBED_CHARS = 100_000

# The credentials of a URL's authority: scheme://user:password@host.
URL_CREDENTIALS = re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]{0,20}://)[^\s/?#]{1,256}@")
PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----"
    r"(?:[\s\S]{0,20000}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,10}-----"
    # A block cut off before its END line: everything that can belong to it goes.
    r"|[A-Za-z0-9+/=\s:,\\-]{0,20000})"
)
JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
BEARER = re.compile(r"(?i)\b(bearer)([ \t]+)[A-Za-z0-9\-._~+/]{8,}=*")
BASIC = re.compile(r"(?i)\b(basic)([ \t]+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])")
# AWS access key ids by their documented prefixes (AKIA long-term, ASIA temporary, ...).
AWS_ACCESS_KEY = re.compile(
    r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
    r"[A-Z0-9]{16}(?![A-Z0-9])"
)
# Tokens whose vendors give them a fixed prefix: GitHub, GitLab, Slack and Stripe.
SERVICE_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|[rs]k_live_[A-Za-z0-9]{16,})"
)
# 13 to 19 digits, optionally grouped by spaces or dashes; checked further in _card_number.
CARD_CANDIDATE = re.compile(r"(?<![\w.])(?:\d[ -]?){12,18}\d(?![\w])")
EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9\-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w\-])"
)
IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"
)
# Candidates only: two colons somewhere in a run of hex digits, colons and dots. Each one is
# checked with the ipaddress module in _ipv6, so times, MAC addresses and `a::b` stay.
IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f.]{0,45}:[0-9A-Fa-f.]{0,45}:)[0-9A-Fa-f:.]{2,45}(?![\w:])"
)

BUILTIN_PATTERNS = (
    "url_credentials",
    "private_key",
    "jwt",
    "bearer_token",
    "basic_credentials",
    "aws_access_key",
    "service_token",
    "card_number",
)


@dataclass(frozen=True)
class ScrubPolicy:
    """The scrubbing rules in force: the SCRUB_* settings and the sync's own tokens."""

    sensitive_names: tuple[str, ...] = DEFAULT_SENSITIVE_NAMES
    extra_patterns: tuple[str, ...] = ()
    disabled_patterns: frozenset[str] = frozenset()
    keep_emails: bool = False
    keep_ip_addresses: bool = False
    literal_secrets: tuple[str, ...] = ()


def read_scrub_policy(source: Any = None) -> tuple[ScrubPolicy, list[ConfigProblem]]:
    """Read the scrubbing settings and return the policy and every problem found."""
    source = source or settings
    problems: list[ConfigProblem] = []
    extra_names = [
        name.strip()
        for name in getattr(source, "SCRUB_EXTRA_SENSITIVE_NAMES", [])
        if name and name.strip()
    ]
    disabled = {name.strip() for name in getattr(source, "SCRUB_DISABLED_PATTERNS", []) if name}
    unknown = sorted(disabled - set(BUILTIN_PATTERNS))
    if unknown:
        problems.append(
            ConfigProblem(
                "SCRUB_DISABLED_PATTERNS",
                f"unknown pattern names {', '.join(unknown)}; "
                f"use some of {', '.join(BUILTIN_PATTERNS)}",
            )
        )
    policy = ScrubPolicy(
        sensitive_names=DEFAULT_SENSITIVE_NAMES + tuple(extra_names),
        extra_patterns=_parse_extra_patterns(getattr(source, "SCRUB_EXTRA_PATTERNS", ""), problems),
        disabled_patterns=frozenset(disabled),
        keep_emails=_parse_flag("SCRUB_KEEP_EMAILS", source, problems),
        keep_ip_addresses=_parse_flag("SCRUB_KEEP_IP_ADDRESSES", source, problems),
        literal_secrets=_own_tokens(source),
    )
    return policy, problems


def _parse_flag(variable: str, source: Any, problems: list[ConfigProblem]) -> bool:
    raw = getattr(source, variable, False)
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word not in {"0", "false", "no", "off", ""}:
        problems.append(ConfigProblem(variable, f"{raw!r} is not a boolean; use true or false"))
    return False


def _parse_extra_patterns(raw: Any, problems: list[ConfigProblem]) -> tuple[str, ...]:
    if isinstance(raw, str):
        if not raw.strip():
            return ()
        try:
            raw = json.loads(raw)
        except ValueError as error:
            problems.append(
                ConfigProblem(
                    "SCRUB_EXTRA_PATTERNS",
                    f"is not a JSON list of regular expressions ({error}); "
                    'write it like ["ORD-[0-9]{8}"]',
                )
            )
            return ()
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        problems.append(ConfigProblem("SCRUB_EXTRA_PATTERNS", "must be a JSON list of strings"))
        return ()
    for index, pattern in enumerate(raw, start=1):
        try:
            re.compile(pattern)
        except re.error as error:
            problems.append(
                ConfigProblem(
                    "SCRUB_EXTRA_PATTERNS",
                    f"pattern {index} is not a valid regular expression: {error}",
                )
            )
    return tuple(raw)


def _own_tokens(source: Any) -> tuple[str, ...]:
    tokens = []
    for variable in ("BUGSINK_API_TOKEN", "GITEA_API_TOKEN"):
        token = normalize_token(str(getattr(source, variable, "") or ""))
        # A very short value is a misconfiguration, reported elsewhere; replacing it
        # everywhere would garble the issue.
        if len(token) >= 8:
            tokens.append(token)
    return tuple(tokens)


@register()
def check_scrub_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Report invalid SCRUB_* settings as system check errors (syncapp.E020)."""
    _, problems = read_scrub_policy()
    return [
        Error(
            f"{problem.variable} {problem.message}",
            hint="See .env.example for the SCRUB_* settings and their format.",
            id="syncapp.E020",
        )
        for problem in problems
    ]


def name_pattern(names: Iterable[str]) -> str:
    """Return a regex alternative that finds any of names, with or without separators."""
    alternatives = []
    for name in names:
        parts = [re.escape(part) for part in re.split(r"[-_.\s]+", name.strip()) if part]
        if parts:
            alternatives.append(r"[-_.]?".join(parts))
    return "(?:" + "|".join(sorted(set(alternatives), key=len, reverse=True)) + ")"


class Scrubber:
    """Scrub one policy's secrets and personal data out of texts, pairs, issues and events."""

    def __init__(self, policy: ScrubPolicy) -> None:
        self.policy = policy
        names = name_pattern(policy.sensitive_names)
        self.sensitive_name = re.compile(names, re.IGNORECASE)
        # `name=value`, `name: value`, `"name": "value"` and `name => value` in free text.
        self.sensitive_pair = re.compile(
            r"(?<![\w.\-])(?P<name>[\w.\-]{0,40}?" + names + r"[\w.\-]{0,40})"
            r"(?P<sep>[\"']?[ \t]{0,3}(?:[:=]=?|=>)[ \t]{0,3})"
            r"(?P<value>\"[^\"\n]{0,2000}\"|'[^'\n]{0,2000}'|`[^`\n]{0,2000}`"
            r"|[\"'`]?(?:(?:bearer|basic|token|digest)[ \t]+)?[^\s&;,\"'<>`]{1,2000})",
            re.IGNORECASE,
        )
        self.extra_patterns = tuple(re.compile(pattern) for pattern in policy.extra_patterns)
        self.steps = self._build_steps()

    def _build_steps(self) -> list[Callable[[str], str]]:
        builtin: dict[str, Callable[[str], str]] = {
            "private_key": lambda text: PRIVATE_KEY.sub(REDACTED, text),
            "url_credentials": lambda text: URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text),
            "jwt": lambda text: JWT.sub(REDACTED, text),
            "bearer_token": lambda text: BEARER.sub(rf"\1\2{REDACTED}", text),
            "basic_credentials": lambda text: BASIC.sub(_basic_credentials, text),
            "aws_access_key": lambda text: AWS_ACCESS_KEY.sub(REDACTED, text),
            "service_token": lambda text: SERVICE_TOKEN.sub(REDACTED, text),
            "card_number": lambda text: CARD_CANDIDATE.sub(_card_number, text),
        }
        steps: list[Callable[[str], str]] = [self._replace_literal_secrets]
        # Order matters: whole blocks and URL credentials first, then credentials that follow
        # a scheme word. The pair rule then finds `Authorization: Bearer [redacted]` and
        # replaces the value as a whole.
        for name in (
            "private_key",
            "url_credentials",
            "jwt",
            "bearer_token",
            "basic_credentials",
        ):
            if name not in self.policy.disabled_patterns:
                steps.append(builtin[name])
        steps.append(self._replace_sensitive_pairs)
        for name in ("aws_access_key", "service_token", "card_number"):
            if name not in self.policy.disabled_patterns:
                steps.append(builtin[name])
        steps += [_substitute(pattern, REDACTED) for pattern in self.extra_patterns]
        if not self.policy.keep_emails:
            steps.append(lambda text: EMAIL.sub(EMAIL_MASK, text))
        return steps

    def is_sensitive_name(self, name: str) -> bool:
        return self.sensitive_name.search(name) is not None

    def scrub_text(self, text: str, *, mask_ip_addresses: bool = True) -> str:
        """Return text with every secret and (unless kept) e-mail and IP address replaced."""
        if not text:
            return text
        text = text[:MAX_SCRUBBED_CHARS]
        for step in self.steps:
            text = step(text)
        if mask_ip_addresses and not self.policy.keep_ip_addresses:
            text = IPV4.sub(IP_MASK, text)
            text = IPV6_CANDIDATE.sub(_ipv6, text)
        return text

    def scrub_pairs(self, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Return (name, value) pairs with the value of every sensitive name replaced whole."""
        return tuple(
            (
                self.scrub_text(name),
                REDACTED if self.is_sensitive_name(name) and value else self.scrub_text(value),
            )
            for name, value in pairs
        )

    def scrub_issue(self, issue: BugsinkIssue) -> BugsinkIssue:
        return replace(
            issue,
            error_type=self.scrub_text(issue.error_type),
            error_value=self.scrub_text(issue.error_value),
            transaction=self.scrub_text(issue.transaction),
        )

    def scrub_event(self, event: BugsinkEvent) -> BugsinkEvent:
        text = self.scrub_text
        return replace(
            event,
            id=text(event.id),
            event_id=text(event.event_id),
            platform=text(event.platform),
            level=text(event.level),
            message=text(event.message),
            exceptions=tuple(self.scrub_exception(exception) for exception in event.exceptions),
            thread_frames=tuple(self.scrub_frame(frame) for frame in event.thread_frames),
            request_url=text(event.request_url),
            request_method=text(event.request_method),
            trace_id=text(event.trace_id),
            environment=text(event.environment),
            # Version numbers such as 1.4.2.0 look like IPv4 addresses.
            release=text(event.release, mask_ip_addresses=False),
            server_name=text(event.server_name),
            transaction=text(event.transaction),
            tags=self.scrub_pairs(event.tags),
            request_headers=self.scrub_pairs(event.request_headers),
            request_query=self.scrub_pairs(event.request_query),
            request_data=self.scrub_pairs(event.request_data),
            # Every cookie is a session or tracking value, so none is shown.
            request_cookies=tuple((text(name), REDACTED) for name, _ in event.request_cookies),
            request_env=self.scrub_pairs(event.request_env),
            user=self.scrub_pairs(event.user),
        )

    def scrub_exception(self, exception: ExceptionInfo) -> ExceptionInfo:
        return ExceptionInfo(
            type=self.scrub_text(exception.type),
            value=self.scrub_text(exception.value),
            frames=tuple(self.scrub_frame(frame) for frame in exception.frames),
        )

    def scrub_frame(self, frame: StackFrame) -> StackFrame:
        return replace(
            frame,
            filename=self.scrub_text(frame.filename),
            function=self.scrub_text(frame.function),
            context_line=self.scrub_text(frame.context_line),
        )

    def _replace_literal_secrets(self, text: str) -> str:
        for secret in self.policy.literal_secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _replace_sensitive_pairs(self, text: str) -> str:
        def redact_value(match: re.Match[str]) -> str:
            value = match.group("value")
            quote = value[0] if value[0] in "\"'`" else ""
            closing = quote if quote and len(value) > 1 and value.endswith(quote) else ""
            return f"{match.group('name')}{match.group('sep')}{quote}{REDACTED}{closing}"

        return self.sensitive_pair.sub(redact_value, text)


def _substitute(pattern: re.Pattern[str], marker: str) -> Callable[[str], str]:
    return lambda text: pattern.sub(marker, text)


def _basic_credentials(match: re.Match[str]) -> str:
    """Replace `Basic <base64>` when the base64 decodes to user:password, as in RFC 7617."""
    try:
        decoded = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    if b":" not in decoded:
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def _card_number(match: re.Match[str]) -> str:
    """Replace a payment card number: 13 to 19 digits, a card network's first digit (2 to 6),
    and a valid Luhn check digit. Other long numbers (ids, timestamps) stay."""
    digits = re.sub(r"\D", "", match.group(0))
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456" or not luhn_valid(digits):
        return match.group(0)
    return REDACTED


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _ipv6(match: re.Match[str]) -> str:
    candidate = match.group(0).rstrip(".")
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return match.group(0)
    # `::1` and `::` are the host itself, never an end user; requiring two groups also keeps
    # Python slices such as `items[::2]` intact.
    if sum(1 for group in candidate.split(":") if group) < 2 or address.is_loopback:
        return match.group(0)
    return IP_MASK + match.group(0)[len(candidate) :]


def load_scrubber(source: Any = None) -> Scrubber:
    """Return a Scrubber for the current settings; raise ConfigurationError when invalid."""
    policy, problems = read_scrub_policy(source)
    if problems:
        raise ConfigurationError(problems)
    return Scrubber(policy)


def scrub_text(text: str) -> str:
    """Scrub one text with the current settings (see Scrubber.scrub_text)."""
    return load_scrubber().scrub_text(text)
