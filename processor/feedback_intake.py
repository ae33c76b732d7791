"""Where human verdicts come in: the SDK's log pipeline (in-process) and OTLP log requests (`mre serve`).

Only ``gen_ai.evaluation.result`` records marked ``mre.evaluation.source=human`` are taken; every
other record is left alone. A human record that cannot be read is counted as bad input (named, never
quoted) and the rest of the request is still taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LogRecordProcessor

from mre.human_feedback import HumanVerdict, is_human, verdict_from_record
from mre.processor.calibration import CalibrationMonitor
from mre.processor.health import BAD_INPUT, INVALID_FEEDBACK
from mre.processor.otlp import ProtoAttributes


@dataclass
class DecodedFeedback:
    verdicts: list[HumanVerdict] = field(default_factory=list)
    rejected: int = 0
    error: str | None = None


def decode_feedback(request: ExportLogsServiceRequest) -> DecodedFeedback:
    out = DecodedFeedback()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                try:
                    verdict = verdict_from_record(
                        record.trace_id.hex(), record.span_id.hex() or None, ProtoAttributes(record.attributes)
                    )
                except ValueError as exc:
                    out.rejected += 1
                    out.error = out.error or str(exc)
                    continue
                if verdict is not None:
                    out.verdicts.append(verdict)
    return out


class FeedbackLogProcessor(LogRecordProcessor):
    """Hands human verdicts emitted in this process (``mre.feedback``) to the calibration monitor."""

    def __init__(self, monitor: CalibrationMonitor) -> None:
        self._monitor = monitor

    def on_emit(self, log_record: Any) -> None:  # ReadWriteLogRecord (SDK >= 1.39: LogData, same field)
        record = getattr(log_record, "log_record", log_record)
        attributes = getattr(record, "attributes", None)
        if not is_human(attributes):  # every log record of the app comes by: leave before any work
            return
        try:
            verdict = verdict_from_record(
                f"{record.trace_id or 0:032x}", f"{record.span_id or 0:016x}", attributes or {}
            )
        except (ValueError, TypeError) as exc:
            BAD_INPUT.record(INVALID_FEEDBACK, str(exc))
            return
        if verdict is not None:
            self._monitor.on_verdict(verdict)

    def emit(self, log_record: Any) -> None:  # the name older SDKs call
        self.on_emit(log_record)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
