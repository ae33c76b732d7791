"""A local OpenAI-compatible model server that answers from the context it is given, and injects
known faults at known rates so the demo can measure what mre-otel detects.

It speaks the OpenAI API (``/v1/chat/completions`` with streaming, ``/v1/responses``,
``/v1/embeddings``, ``/v1/moderations``, ``GET /v1/models``) and Anthropic's ``/v1/messages`` (with
streaming); a model named ``fail-<status>`` answers with that HTTP error. The prompt must carry
the context as lines ``[doc-id] text`` and the question after ``Question:`` (see ``rag_app``). The
server answers with the context sentence that best matches the question, lightly rephrased; when
nothing matches it abstains. Faults, decided per request from a seeded generator:

- ``invented_number``: a number of the answer changed to one the context does not contain;
- ``dropped_qualifier``: an "except/unless" clause, a "not" or an "only" removed;
- ``unsupported_sentence``: a plausible sentence the context does not support appended;
- ``needless_abstention``: abstains although the context answers;
- ``answered_without_context``: answers although nothing relevant was retrieved.

What it did to each response is kept in :attr:`FaultyLLMServer.log`, keyed by response id.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mre.examples import llm_wire as wire

FAULT_KINDS = (
    "invented_number",
    "dropped_qualifier",
    "unsupported_sentence",
    "needless_abstention",
    "answered_without_context",
)
DEFAULT_RATES = {
    "invented_number": 0.1,
    "dropped_qualifier": 0.1,
    "unsupported_sentence": 0.1,
    "needless_abstention": 0.06,
    "answered_without_context": 0.5,  # of the questions the context cannot answer
}

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "is",
        "are",
        "do",
        "does",
        "how",
        "what",
        "when",
        "which",
        "who",
        "whom",
        "may",
        "must",
        "be",
        "by",
        "with",
        "at",
        "many",
        "much",
        "long",
        "often",
        "up",
        "and",
        "or",
        "it",
        "its",
        "their",
        "they",
        "per",
    ]
)
_CONTEXT_LINE = re.compile(r"^\[(?P<id>[^\]]+)\]\s+(?P<text>.+)$", re.M)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w.]*\d)")
_QUALIFIER_EDITS = (
    re.compile(r",?\s+(?:except|unless)\b[^.;]*"),
    re.compile(r"\b(?:not|never)\s+"),
    re.compile(r"\bonly\s+"),
)
_UNSUPPORTED = (
    "Managers can approve exceptions to this rule verbally.",
    "This rule was introduced after an external audit in 2019.",
    "Contractors follow exactly the same rules as permanent staff.",
    "Requests are processed faster at the end of each quarter.",
    "The regional director reviews every case personally.",
    "Employees based in Germany are entitled to twice this amount.",
    "Requests submitted on weekends are handled by an outside agency.",
    "A digital signature from the legal department is also needed.",
)
_ABSTAIN = (
    "I don't know: the provided documents do not cover this.",
    "I'm sorry, but the documents provided do not contain that information.",
    "I cannot answer that from the provided documents.",
)
_STYLE_PREFIX = ("", "", "Per the policy, ", "According to the current policy, ")


def _terms(text: str) -> set[str]:
    return {t[:6] for t in _TOKEN.findall(text.lower()) if t not in _STOP}


@dataclass(frozen=True, slots=True)
class ServedAnswer:
    """What the server did for one request."""

    question: str
    answerable: bool
    fault: str | None
    answer: str
    source_ids: tuple[str, ...] = ()
    model: str = ""  # the model version that answered (it changes when the server degrades mid-run)


@dataclass
class FaultPlan:
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    seed: int = 7
    model: str = "mre-demo-model-v1"
    answerable_at: float = 0.5  # share of question terms the best sentence must hold
    judge_replies_garbage: bool = False  # judge mode answers with prose instead of JSON (tests)
    style: bool = True  # vary the phrasing (prefixes, citations, a second sentence); off: the bare sentence
    # After this many answers the server switches to a degraded model (a silent upgrade gone wrong):
    # a new version name and every fault rate multiplied by ``degraded_factor``.
    degrade_after: int | None = None
    degraded_model: str = "mre-demo-model-v2"
    degraded_factor: float = 2.0

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; known: {list(FAULT_KINDS)}")
        if any(not 0.0 <= r <= 1.0 for r in self.rates.values()):
            raise ValueError("fault rates must be in [0, 1]")
        if self.degrade_after is not None and self.degrade_after < 0:
            raise ValueError("degrade_after must be >= 0")

    def degraded(self) -> FaultPlan:
        """The model the server switches to after ``degrade_after`` answers."""
        rates = {kind: min(1.0, rate * self.degraded_factor) for kind, rate in self.rates.items()}
        return replace(self, rates=rates, model=self.degraded_model, degrade_after=None)


class Responder:
    """The model's behaviour, separate from HTTP so it can be tested directly."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan  # the model answering now
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._answers = 0

    def respond(self, messages: list[dict[str, Any]]) -> ServedAnswer:
        prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        if "faithfulness judge" in system:
            return ServedAnswer(prompt, True, None, self._judge(prompt), model=self.plan.model)
        question = prompt.rsplit("Question:", 1)[-1].strip() if "Question:" in prompt else prompt.strip()
        contexts = [(m["id"], m["text"]) for m in _CONTEXT_LINE.finditer(prompt)]
        with self._lock:  # one generator, deterministic for sequential traffic
            if self.plan.degrade_after is not None and self._answers >= self.plan.degrade_after:
                self.plan = self.plan.degraded()
            self._answers += 1
            return replace(self._respond(question, contexts), model=self.plan.model)

    def _respond(self, question: str, contexts: list[tuple[str, str]]) -> ServedAnswer:
        rng, rates = self._rng, self.plan.rates
        asked = _terms(question)
        best: tuple[float, str, list[str], int] | None = None
        for doc_id, text in contexts:
            sentences = _SENTENCE.split(text)
            for i, sentence in enumerate(sentences):
                cover = len(asked & _terms(sentence)) / max(1, len(asked))
                if best is None or cover > best[0]:
                    best = (cover, doc_id, sentences, i)
        answerable = best is not None and best[0] >= self.plan.answerable_at
        context_text = " ".join(t for _, t in contexts)
        if not answerable or best is None:
            if rng.random() < rates.get("answered_without_context", 0.0):
                return ServedAnswer(question, False, "answered_without_context", self._fabricate(question))
            return ServedAnswer(question, False, None, rng.choice(_ABSTAIN))
        _, doc_id, sentences, i = best
        answer = sentences[i]
        if self.plan.style and i + 1 < len(sentences) and rng.random() < 0.25:
            answer = f"{answer} {sentences[i + 1]}"
        fault = self._pick_fault(answer, context_text)
        if fault == "needless_abstention":
            return ServedAnswer(question, True, fault, rng.choice(_ABSTAIN), (doc_id,))
        if fault == "invented_number":
            answer = self._invent_number(answer, context_text)
        elif fault == "dropped_qualifier":
            answer = self._drop_qualifier(answer)
        elif fault == "unsupported_sentence":
            answer = f"{answer} {rng.choice(_UNSUPPORTED)}"
        prefix = rng.choice(_STYLE_PREFIX) if self.plan.style else ""
        if prefix:
            answer = prefix + answer[0].lower() + answer[1:]
        if self.plan.style and rng.random() < 0.5:
            answer = f"{answer} [{doc_id}]"
        return ServedAnswer(question, True, fault, answer, (doc_id,))

    def _judge(self, prompt: str) -> str:
        """Judge mode (an LLM judge's wire protocol): every number of the answer must be in the context
        and every sentence must share most of its words with it. Replies in the JSON the judge asks for."""
        if self.plan.judge_replies_garbage:
            return "I would rather not say."
        context = prompt.split("CONTEXT:", 1)[-1].split("ANSWER:", 1)[0]
        answer = prompt.split("ANSWER:", 1)[-1].strip()
        sentences = [s for s in _SENTENCE.split(answer) if s.strip()]
        numbers_in_context = {m.group(1).replace(",", "") for m in _NUMBER.finditer(context)}
        known = _terms(context)
        unsupported = []
        for sentence in sentences:
            numbers = {m.group(1).replace(",", "") for m in _NUMBER.finditer(sentence)}
            words = _terms(sentence)
            if numbers - numbers_in_context or (words and len(words & known) / len(words) < 0.7):
                unsupported.append(sentence)
        score = 1.0 - len(unsupported) / len(sentences) if sentences else 0.0
        label = "supported" if not unsupported else ("unsupported" if score == 0 else "partially_supported")
        explanation = "all claims supported" if not unsupported else f"unsupported: {unsupported[0][:80]}"
        return json.dumps({"score": score, "label": label, "explanation": explanation})

    def _pick_fault(self, answer: str, context_text: str) -> str | None:
        applicable = ["unsupported_sentence", "needless_abstention"]
        if _NUMBER.search(answer):
            applicable.append("invented_number")
        if any(p.search(answer) for p in _QUALIFIER_EDITS):
            applicable.append("dropped_qualifier")
        draw = self._rng.random()
        cumulative = 0.0
        for kind in FAULT_KINDS:
            if kind in applicable:
                cumulative += self.plan.rates.get(kind, 0.0)
                if draw < cumulative:
                    return kind
        return None

    def _invent_number(self, answer: str, context_text: str) -> str:
        present = {m.group(1).replace(",", "") for m in _NUMBER.finditer(context_text)}
        matches = list(_NUMBER.finditer(answer))
        target = self._rng.choice(matches)
        raw = target.group(1).replace(",", "")
        value = float(raw)
        for step in (2, 3, 5, 10, 7, 11, 25):
            candidate = value + step if value >= 1 else value + 0.5
            shown = f"{candidate:g}" if "." in raw else str(int(candidate))
            if shown not in present:
                break
        return answer[: target.start(1)] + shown + answer[target.end(1) :]

    def _drop_qualifier(self, answer: str) -> str:
        for pattern in _QUALIFIER_EDITS:
            if pattern.search(answer):
                return pattern.sub("", answer, count=1).replace(" ,", ",").strip()
        return answer

    def _fabricate(self, question: str) -> str:
        topic = re.sub(r"^(what|which|who|how|when|where|can|does|do|is|are)\b[^a-z]*", "", question.lower())
        topic = re.sub(r"^(is|are|do|does|the|a|an|called|many|much)\s+", "", topic).rstrip("?").strip()
        amount = self._rng.choice((2, 3, 4, 5, 10, 12, 20))
        return f"Regarding {topic}: this is allowed up to {amount} times per year, with approval from your manager."


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each response waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints its own progress
        return None

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = self.server.owner.responder.plan.model
            self._send(200, {"object": "list", "data": [{"id": model, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def _stream(self, events: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()
        self.close_connection = True

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"type": "error", "error": {"message": message, "type": kind}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "invalid JSON")
            return
        if not isinstance(request, dict):
            self._error(400, "expected a JSON object")
            return
        path = self.path.rstrip("/")
        model = request.get("model")
        if isinstance(model, str) and model.startswith("fail-"):
            # A model name that asks for an error: tests of the error paths (fail-500, fail-429...).
            status = int(model.split("-", 1)[1]) if model.split("-", 1)[1].isdigit() else 500
            self._error(status, f"simulated failure for {model}", "api_error")
            return
        for suffix, route in (
            ("/chat/completions", self._chat),
            ("/responses", self._responses),
            ("/embeddings", self._embeddings),
            ("/moderations", self._moderations),
            ("/messages", self._messages),
        ):
            if path.endswith(suffix):
                route(request)
                return
        self._error(404, "not found")

    def _answer(self, messages: list[dict[str, Any]], prefix: str = "chatcmpl") -> tuple[str, ServedAnswer, int]:
        owner = self.server.owner
        served = owner.responder.respond(messages)
        response_id = owner.next_id(prefix)
        owner.record(response_id, served)
        prompt_tokens = sum(wire.tokens(str(m.get("content", ""))) for m in messages)
        return response_id, served, prompt_tokens

    def _chat(self, request: dict[str, Any]) -> None:
        messages = request.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            self._error(400, "messages must be a list of message objects")
            return
        response_id, served, prompt = self._answer(messages)
        model = served.model
        tools = request.get("tools")
        if request.get("tool_choice") == "required" and isinstance(tools, list) and tools:
            name = str(((tools[0] or {}).get("function") or {}).get("name", "tool"))
            call = {
                "id": f"call_{response_id[-6:]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"question": served.question})},
            }
            if request.get("stream"):
                self._stream(wire.tool_call_stream(response_id, model, call))
            else:
                self._send(200, wire.tool_call_completion(response_id, model, call, prompt))
            return
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            self._stream(wire.chat_stream(response_id, model, served.answer, prompt, include_usage))
        else:
            self._send(200, wire.chat_completion(response_id, model, served.answer, prompt))

    def _responses(self, request: dict[str, Any]) -> None:
        given = request.get("input")
        if isinstance(given, str):
            messages = [{"role": "user", "content": given}]
        elif isinstance(given, list):
            messages = [
                {"role": m.get("role", "user"), "content": wire.anthropic_text(m.get("content"))}
                for m in given
                if isinstance(m, dict)
            ]
        else:
            self._error(400, "input must be a string or a list")
            return
        if isinstance(request.get("instructions"), str):
            messages.insert(0, {"role": "system", "content": request["instructions"]})
        response_id, served, prompt = self._answer(messages)
        model = served.model
        if request.get("stream"):
            self._stream(wire.response_stream(response_id, model, served.answer, prompt))
        else:
            self._send(200, wire.response_object(response_id, model, served.answer, prompt))

    def _embeddings(self, request: dict[str, Any]) -> None:
        given = request.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            self._error(400, "input must be a string or a list of strings")
            return
        owner = self.server.owner
        self._send(200, wire.embeddings(str(request.get("model", "embedding-model")), inputs, owner.embed))

    def _moderations(self, request: dict[str, Any]) -> None:
        given = request.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            self._error(400, "input must be a string or a list of strings")
            return
        owner = self.server.owner
        self._send(200, wire.moderation(owner.next_id(), str(request.get("model") or "omni-moderation-latest"), inputs))

    def _messages(self, request: dict[str, Any]) -> None:
        messages = request.get("messages")
        if not isinstance(messages, list) or not isinstance(request.get("max_tokens"), int):
            self._error(400, "messages and max_tokens are required")
            return
        flat = [{"role": m.get("role"), "content": wire.anthropic_text(m.get("content"))} for m in messages]
        system = request.get("system")
        if system:
            flat.insert(0, {"role": "system", "content": wire.anthropic_text(system)})
        response_id, served, prompt = self._answer(flat, prefix="msg")
        model = str(request.get("model") or served.model)
        if request.get("stream"):
            self._stream(wire.message_stream(response_id, model, served.answer, prompt))
        else:
            self._send(200, wire.message(response_id, model, served.answer, prompt))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultyLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a closed keep-alive connection, an abandoned stream) is normal."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FaultyLLMServer:
    """``with FaultyLLMServer(plan) as server: OpenAI(base_url=server.url, api_key="x")``."""

    def __init__(
        self,
        plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        responder: Responder | None = None,
        embed: Callable[[str], list[float]] = wire.embedding,
    ) -> None:
        """``responder`` replaces the fault-injecting model (tests script their own answers);
        ``embed`` is the text -> vector function of ``/v1/embeddings``."""
        self.plan = plan or FaultPlan()
        self.responder = responder or Responder(self.plan)
        self.embed = embed
        self.log: dict[str, ServedAnswer] = {}
        self._counter = 0
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/v1"

    def next_id(self, prefix: str = "chatcmpl") -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-demo-{self._counter:06d}"

    def record(self, response_id: str, served: ServedAnswer) -> None:
        with self._lock:
            self.log[response_id] = served

    def start(self) -> FaultyLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mre-demo-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultyLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m mre.examples.llm_server --port 8000``: serve until interrupted (benchmarks run it
    in its own process so it does not share the client's interpreter lock)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="local OpenAI/Anthropic-compatible model server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--faults", action="store_true", help="inject the demo's faults (default: none)")
    parser.add_argument(
        "--degrade-after", type=int, metavar="N", help="switch to a degraded model version after N answers"
    )
    args = parser.parse_args(argv)
    plan = FaultPlan() if args.faults else FaultPlan(rates={}, style=False)
    plan = replace(plan, degrade_after=args.degrade_after)
    server = FaultyLLMServer(plan, host=args.host, port=args.port).start()
    print(server.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
