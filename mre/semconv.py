"""Every attribute, event and metric name mre-otel reads or writes, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (latest experimental); see
``shared/reference/semconv.md``. ``mre.*`` names exist only where semconv has no word.
"""

from typing import Final

# --- operations -------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_RETRIEVAL: Final = "retrieval"
OP_GUARDRAIL: Final = "run_guardrail"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_EMBEDDINGS: Final = "embeddings"
GENERATION_OPERATIONS: Final = frozenset({OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT})

# --- common -----------------------------------------------------------------------------------
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM_DEPRECATED: Final = "gen_ai.system"  # pre-1.37 name of gen_ai.provider.name
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_ROUTE: Final = "http.route"  # the server span's route: the answer's route when mre.route is not set
SERVICE_NAME: Final = "service.name"

# --- content (JSON strings on spans) ----------------------------------------------------------
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

# --- retrieval --------------------------------------------------------------------------------
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_RETRIEVAL_TOP_K_UTIL: Final = "gen_ai.retrieval.top_k"  # what util-genai writes instead
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"

# Document metadata keys that reliability scoring reads (configurable in the instrumentation).
META_SOURCE: Final = "source"
META_UPDATED_AT: Final = "updated_at"
META_VERSION: Final = "version"
META_SUPERSEDED_BY: Final = "superseded_by"
META_ACL: Final = "acl"
META_STATUS: Final = "status"

# --- guardrail (draft B, `run_guardrail`, as util-genai implements it) -------------------------
GEN_AI_GUARDRAIL_NAME: Final = "gen_ai.guardrail.name"
GEN_AI_GUARDRAIL_TARGET_TYPE: Final = "gen_ai.guardrail.target.type"
GEN_AI_GUARDRAIL_VERDICT_TYPE: Final = "gen_ai.guardrail.verdict.type"
GEN_AI_GUARDRAIL_VERDICT_REASON: Final = "gen_ai.guardrail.verdict.reason"
GEN_AI_GUARDRAIL_RISK_CATEGORY: Final = "gen_ai.guardrail.security.risk.category"
GEN_AI_GUARDRAIL_RISK_SCORE: Final = "gen_ai.guardrail.security.risk.score"
GUARDRAIL_TARGETS: Final = frozenset({"input", "output"})
GUARDRAIL_VERDICTS: Final = frozenset({"allow", "deny", "modify", "warn", "escalate"})

# --- evaluation event -------------------------------------------------------------------------
EVENT_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
# A human verdict is the same event marked with its source; it is matched to the automated scores.
MRE_EVALUATION_SOURCE: Final = "mre.evaluation.source"
EVALUATION_SOURCE_HUMAN: Final = "human"
MRE_EVALUATION_ANNOTATOR: Final = "mre.evaluation.annotator"
EVALUATION_OVERALL: Final = "overall"  # a verdict on the whole answer (thumbs up/down): all SLOs good

# --- mre.* (no semconv word) ------------------------------------------------------------------
MRE_PRINCIPAL: Final = "mre.principal"  # who asked; permission-leak scoring compares it to doc ACLs
MRE_ROUTE: Final = "mre.route"
MRE_SCORE_PREFIX: Final = "mre.score."
MRE_FAILURE_CAUSE: Final = "mre.failure.cause"

# --- environment ------------------------------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
