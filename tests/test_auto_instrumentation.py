"""`opentelemetry-instrument python app.py` with no code change: retrieval, chat and guardrail spans
reach an OTLP receiver through the real exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mre import semconv as sc
from mre.examples.llm_server import FaultPlan, FaultyLLMServer
from tests.otlp_receiver import Receiver, attrs


def test_a_plain_rag_app_gets_retrieval_chat_and_guardrail_spans(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        with FaultyLLMServer(FaultPlan(rates={}, style=False)) as server:
            env = {
                **os.environ,
                "OPENAI_BASE_URL": server.url,
                "OTEL_SERVICE_NAME": "plain-rag-app",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                # Other openai instrumentations installed beside ours all register as "openai".
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,httpx,urllib,urllib3,requests,chromadb,mre_guardrails",
            }
            result = subprocess.run(
                [
                    str(Path(sys.executable).parent / "opentelemetry-instrument"),
                    sys.executable,
                    "-m",
                    "mre.examples.chroma_app",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                cwd=tmp_path,
            )
        assert result.returncode == 0, result.stderr[-3000:]
        deadline = time.monotonic() + 10
        while len(receiver.spans) < 9 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.stop()
    by_op: dict[str, list[dict[str, object]]] = {}
    for span in receiver.spans:
        a = attrs(span)
        by_op.setdefault(str(a.get(sc.GEN_AI_OPERATION_NAME)), []).append(a)
    assert len(by_op["retrieval"]) == 2 and len(by_op["chat"]) == 2 and len(by_op["run_guardrail"]) == 2
    assert len(by_op["embeddings"]) == 3
    retrieval = by_op["retrieval"][0]
    assert retrieval[sc.GEN_AI_DATA_SOURCE_ID] == "policies" and retrieval[sc.GEN_AI_PROVIDER_NAME] == "chroma"
    docs = json.loads(str(retrieval[sc.GEN_AI_RETRIEVAL_DOCUMENTS]))
    assert docs[0]["content"] and "distance" in docs[0] and docs[0]["metadata"]["updated_at"] == "2025-01-01"
    chat = by_op["chat"][0]
    assert "Question:" in str(chat[sc.GEN_AI_INPUT_MESSAGES])  # our distro turns content capture on
    assert by_op["run_guardrail"][0][sc.GEN_AI_GUARDRAIL_VERDICT_TYPE] == "allow"
