"""One escaping function per output kind, for text from untrusted suites, candidates and records.

Canary ids, labels, tags, file names and messages that quote them reach terminals, CI logs,
Markdown, workflow commands and XML. Each output kind has its own dangers, so each gets one
function here and every renderer and front end uses it:

- `visible_text`: any output: one line, control, invisible and bidi characters shown as escapes.
- `terminal_text`: consoles, CI logs, pytest output, CLI messages: also defuses GitHub workflow
  commands (`::error::` at a line start, `##[error]` anywhere), which the runner executes.
- `markdown_text`: Markdown (PR comments, step summaries): inert inline text, no links.
- `workflow_data` / `workflow_property`: the message and property values of a workflow command.
- `xml_text`: characters XML 1.0 cannot carry.
- `log_json`: JSON printed to a log, with the same workflow-command defusing as `terminal_text`.
"""

from __future__ import annotations

import re

# Characters that are invisible or reorder text (controls, line breaks, bidi overrides):
# shown as visible escapes so a newline cannot split a line and a label cannot spoof one.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# GitHub's runner reads `::name ...::` at the start of a (trimmed) line and `##[name]` anywhere.
_WORKFLOW = re.compile(r"::|##\[")
# Shown as `\u` escapes, which are also JSON string escapes (so `log_json` can share them).
_WORKFLOW_SHOWN = {"::": ":\\u003a", "##[": "#\\u0023["}

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that mean
# something inline in GitHub-flavoured Markdown (tables, emphasis, links, HTML, math, strike).
_INLINE = frozenset("\\`*_[]<>|~&$")
# Markers that only matter at the start of a block: headings, lists, quotes, setext rules.
_BLOCK_START = re.compile(r"^(?:[#+\-=>]|\d+[.)])")
# GitHub turns bare `https://...` and `www....` into links; an escaped `:` or `.` breaks them.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(:)(?=//)|(?<![a-z0-9])(www)(\.)")

# Everything outside XML 1.0's Char production: C0 controls but tab/LF/CR, lone surrogates,
# U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def visible_text(text: object) -> str:
    """`text` on one line with invisible and reordering characters shown as `\\n`, `\\u202e`."""
    return _INVISIBLE.sub(_visible_escape, str(text))


def _visible_escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _NAMED.get(ch) or f"\\u{ord(ch):04x}"


def terminal_text(text: object) -> str:
    """`text` for a terminal or CI log: one visible line that no runner reads as a command."""
    return _WORKFLOW.sub(lambda m: _WORKFLOW_SHOWN[m.group()], visible_text(text))


def terminal_lines(text: str) -> str:
    """Multi-line output for a terminal: each line made safe as `terminal_text`, breaks kept."""
    return "\n".join(terminal_text(line) for line in text.split("\n"))


def log_json(text: str) -> str:
    """Serialised JSON for a log: `::` and `##[` inside strings become `\\u` escapes, so the
    text still parses to the same value and no line of it is a workflow command."""
    return _WORKFLOW.sub(lambda m: _WORKFLOW_SHOWN[m.group()], text)


def markdown_text(text: object) -> str:
    """`text` as literal inline Markdown: renders exactly as given, on one line, inert."""
    raw = visible_text(text)
    out = "".join("\\" + ch if ch in _INLINE else ch for ch in raw)
    match = _BLOCK_START.match(out)
    if match:
        out = out[: match.end() - 1] + "\\" + out[match.end() - 1 :]
    if out[:1].isspace():  # leading spaces could open an indented code block in a list item
        out = "&#32;" + out[1:]
    out = _AUTOLINK.sub(_break_link, out)
    # A zero-width space after "@" stops GitHub from turning "@org/team" into a mention (and
    # "a@b.example" into a mail link).
    return out.replace("@", "@\u200b")


def _break_link(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\:"
    return match.group(2) + "\\."


def workflow_data(text: object) -> str:
    """A workflow command's message: `%`, CR and LF percent-encoded, as the runner decodes."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: object) -> str:
    """A workflow command's property value: also `:` and `,`, which end a property."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def xml_text(value: object) -> str:
    """`value` as text that XML 1.0 can carry; forbidden characters become `\\uXXXX`."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))
