//! The turns table: one row per model call, made when its `Turn` event is folded, with the role
//! and model its run had at that point.

use crate::model::{CallTiming, StopReason, Usage};

use super::runs::RunAcc;
use super::{RowKey, TurnRow, SCHEMA_VERSION};

/// One model call as its `Turn` event reports it.
pub(super) struct TurnCall<'a> {
    pub(super) agent_run: u32,
    pub(super) turn: u32,
    pub(super) context_messages: u32,
    pub(super) usage: &'a Usage,
    pub(super) cost_usd: Option<f64>,
    pub(super) timing: &'a CallTiming,
    pub(super) tool_calls: u32,
    pub(super) stop: &'a StopReason,
    pub(super) retries: u32,
    pub(super) time_ms: i64,
}

/// The turns table's row of one call of `run`.
pub(super) fn turn_row(key: &RowKey, run: &RunAcc, call: &TurnCall<'_>) -> TurnRow {
    let usage = call.usage;
    let timing = call.timing;
    TurnRow {
        schema_version: SCHEMA_VERSION,
        run_id: key.run_id.clone(),
        suite: key.suite.clone(),
        mission: key.mission.clone(),
        pairing: key.pairing.clone(),
        repeat: key.repeat,
        agent_run: call.agent_run,
        role: run
            .identity
            .role
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        model: run.identity.model.clone(),
        turn: call.turn,
        context_messages: call.context_messages,
        input_tokens: usage.input_tokens,
        new_tokens: new_tokens(usage, timing),
        cache_read_tokens: usage.cache_read_tokens,
        cache_write_tokens: usage.cache_write_tokens,
        output_tokens: usage.output_tokens,
        reasoning_tokens: usage.reasoning_tokens,
        usage_source: usage.source.as_str().to_string(),
        cost_usd: call.cost_usd,
        latency_ms: timing.latency_ms,
        ttft_ms: timing.ttft_ms,
        prefill_tokens_per_s: timing.prefill_tokens_per_s,
        decode_tokens_per_s: timing.decode_tokens_per_s,
        tool_calls: call.tool_calls,
        stop_reason: call.stop.as_str().to_string(),
        raw_usage: usage.raw.as_ref().map(ToString::to_string),
        retries: call.retries,
        time_ms: call.time_ms,
    }
}

/// Input tokens not served from a cache: the engine's prefill count, else the input less the
/// cache reads.
fn new_tokens(usage: &Usage, timing: &CallTiming) -> Option<u64> {
    timing
        .prefill_tokens
        .or(match (usage.input_tokens, usage.cache_read_tokens) {
            (Some(input), Some(cached)) => Some(input.saturating_sub(cached)),
            _ => None,
        })
}

/// The turns table's rows of one mission, in the order the calls were folded.
pub(super) fn turns_rows(turns: &[TurnRow]) -> Vec<TurnRow> {
    turns.to_vec()
}
