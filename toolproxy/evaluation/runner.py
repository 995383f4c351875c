"""Run BFCL questions through a toolproxy server, one JSONL record per (model, style, category, question).

Resumable: records are appended (and flushed) as each question finishes; a re-run skips the ones on file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolproxy.evaluation.bfcl import Question
from toolproxy.evaluation.checker import MultiTurnSession, Verdict, call_string, check_ast, check_irrelevance
from toolproxy.evaluation.client import Call, EvalClient, Reply
from toolproxy.evaluation.progress import progress

RECORDS_FILE = "records.jsonl"


@dataclass
class Record:
    model: str
    style: str
    category: str
    id: str
    correct: bool
    malformed: bool
    error: str | None  # a server error response / timeout, or why the reply was malformed
    error_type: str | None  # BFCL's error type for a wrong answer
    answer: Any  # BFCL shape: [{name: args}] (single turn) or [[[call strings]]] per turn/step (multi-turn)
    content: str | None  # assistant text (first 300 chars), useful when no call was made
    latency_s: float
    completion_tokens: int
    requests: int
    raw: str | None = None  # the reply body of a malformed reply (first 2000 characters)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.style, self.category, self.id)


@dataclass
class RunOptions:
    max_steps: int = 5  # model calls per multi-turn user turn before the entry is failed (BFCL: 20)
    progress: bool = True


@dataclass
class _Tally:
    latency_s: float = 0.0
    tokens: int = 0
    requests: int = 0
    replies: list[Reply] = field(default_factory=list)

    def add(self, reply: Reply) -> Reply:
        self.latency_s += reply.latency_s
        self.tokens += reply.completion_tokens
        self.requests += 1
        self.replies.append(reply)
        return reply


def load_records(path: Path) -> list[Record]:
    """Records on file; a torn last line (an interrupted write) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(Record(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return records


def _ends_with_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    with path.open("rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"


def _append(path: Path, record: Record) -> None:
    needs_newline = not _ends_with_newline(path)
    with path.open("a", encoding="utf-8") as fh:
        if needs_newline:
            fh.write("\n")
        fh.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        fh.flush()


def _bfcl_calls(calls: list[Call]) -> list[dict[str, Any]]:
    return [{c.name: c.arguments} for c in calls]


def _failure(reply: Reply) -> tuple[bool, str | None]:
    return reply.malformed is not None, reply.malformed or reply.error


def _raw(replies: list[Reply]) -> str | None:
    return next((r.raw for r in replies if r.malformed is not None), None)


def _single_turn(client: EvalClient, style: str, q: Question) -> Record:
    tally = _Tally()
    reply = tally.add(client.chat(q.turns[0], q.tools(), style))
    malformed, error = _failure(reply)
    calls = _bfcl_calls(reply.calls)
    if not reply.ok:
        verdict = Verdict(False, "malformed" if malformed else "server_error")
    elif q.kind == "irrelevance":
        verdict = check_irrelevance(calls)
    else:
        verdict = check_ast(q.category, q.functions, calls, q.ground_truth)
    return Record(client.model_id, style, q.category, q.id, verdict.valid, malformed, error, verdict.error_type,
                  calls, (reply.content or "")[:300] or None, tally.latency_s, tally.tokens, tally.requests,
                  _raw(tally.replies))


def _multi_turn(client: EvalClient, style: str, q: Question, max_steps: int) -> Record:
    tally = _Tally()
    tools = q.tools()
    messages: list[dict[str, Any]] = []
    decoded: list[list[list[str]]] = []
    failed: Reply | None = None
    forced_quit = False
    with MultiTurnSession(q.id, q.initial_config, q.involved_classes, {f["name"] for f in q.functions}) as session:
        for turn in q.turns:
            messages.extend(turn)
            steps: list[list[str]] = []
            decoded.append(steps)
            for _ in range(max_steps):
                reply = tally.add(client.chat(messages, tools, style))
                if not reply.ok:
                    failed = reply
                    break
                if not reply.calls:
                    messages.append({"role": "assistant", "content": reply.content or ""})
                    break
                steps.append([call_string(c.name, c.arguments) for c in reply.calls])
                results = session.execute([(c.name, c.arguments) for c in reply.calls])
                messages.append({"role": "assistant", "content": reply.content, "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_text}}
                    for c in reply.calls
                ]})
                messages.extend({"role": "tool", "tool_call_id": c.id, "content": r}
                                for c, r in zip(reply.calls, results, strict=True))
            else:
                forced_quit = True
            if failed is not None or forced_quit:
                break
        if failed is not None:
            verdict = Verdict(False, "malformed" if failed.malformed else "server_error")
        elif forced_quit:
            verdict = Verdict(False, "multi_turn:force_quit", f"more than {max_steps} model steps in one turn")
        else:
            verdict = session.score(decoded, q.ground_truth)
    malformed, error = _failure(failed) if failed is not None else (False, None)
    last = tally.replies[-1] if tally.replies else None
    content = ((last.content or "")[:300] or None) if last is not None else None
    return Record(client.model_id, style, q.category, q.id, verdict.valid, malformed, error, verdict.error_type,
                  decoded, content, tally.latency_s, tally.tokens, tally.requests, _raw(tally.replies))


def run_question(client: EvalClient, style: str, q: Question, options: RunOptions) -> Record:
    if q.kind == "multi_turn":
        return _multi_turn(client, style, q, options.max_steps)
    return _single_turn(client, style, q)


def run(client: EvalClient, styles: Iterable[str], questions: list[Question], out_dir: Path,
        options: RunOptions | None = None) -> list[Record]:
    """Run every (style, question) not yet on file in ``out_dir/records.jsonl``; returns all records on file.

    Order: category by category, each style in turn, so an interrupted run already compares the styles on the
    first categories."""
    options = options or RunOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS_FILE
    done = {r.key for r in load_records(path)}
    categories = list(dict.fromkeys(q.category for q in questions))
    todo = [(s, q) for c in categories for s in styles for q in questions
            if q.category == c and (client.model_id, s, q.category, q.id) not in done]
    shown = progress(len(todo), options.progress)  # a bar on a terminal, else a line per style and category
    try:
        for style, q in todo:
            record = run_question(client, style, q, options)
            _append(path, record)
            shown.done(style, q.category, record.correct, record.malformed)
    finally:
        shown.close()
    return load_records(path)
