//! The JSON record of a run: settings, machine, versions, the exact command line, and
//! every run's raw figures beside the medians, so a result can be re-read and checked.

use super::pair::Pair;
use super::report::{Outcome, ratios};
use serde_json::{Value, json};

/// The record; `context` holds what the caller knows (settings, machine, versions,
/// command line, wall time) and is merged in at the top level.
pub fn record(outcomes: &[Outcome], context: Value) -> Value {
    let pairs: Vec<Value> = outcomes.iter().map(pair).collect();
    let ratios: serde_json::Map<String, Value> = ratios(outcomes)
        .into_iter()
        .map(|(label, value)| (label.to_owned(), json!(value)))
        .collect();
    let mut record = json!({ "benchmark": "tunnel", "pairs": pairs, "ratios": ratios });
    if let (Some(record), Value::Object(context)) = (record.as_object_mut(), context) {
        record.extend(context);
    }
    record
}

fn pair(outcome: &Outcome) -> Value {
    let (server, client) = match outcome.pair {
        Pair::Ceiling => (None, None),
        Pair::Tunnel { server, client } => (Some(server.name()), Some(client.name())),
    };
    let status = match (&outcome.skipped, outcome.succeeded()) {
        (Some(_), _) => "skipped",
        (None, 0) => "failed",
        (None, _) => "measured",
    };
    let medians: serde_json::Map<String, Value> = outcome
        .runs
        .iter()
        .flatten()
        .next()
        .map(|f| f.named())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| (name.to_owned(), json!(outcome.median(name))))
        .collect();
    let runs: Vec<Value> = outcome
        .runs
        .iter()
        .map(|run| match run {
            Ok(figures) => figures.to_json(),
            Err(error) => json!({ "error": error }),
        })
        .collect();
    json!({
        "name": outcome.pair.name(),
        "server": server,
        "client": client,
        "status": status,
        "skipped_reason": outcome.skipped,
        "median": medians,
        "runs": runs,
    })
}
