//! One run of the core through its JSON entry point (`run_json`), as the Java task makes it.

use serde_json::Value;

/// The answer: a report, or an error envelope.
pub fn run(request: &Value) -> Value {
    run_logged(request).0
}

/// The answer and the messages of the run's log lines.
pub fn run_logged(request: &Value) -> (Value, Vec<String>) {
    let mut lines = Vec::new();
    let mut sink = |e: &kestra_git_backup::LogEvent| lines.push(e.message.clone());
    let answer = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    (answer, lines)
}

/// The report of an answer; panics with the answer when it is an error.
pub fn report(v: &Value) -> &Value {
    v.get("report").unwrap_or_else(|| panic!("expected a report, got {v}"))
}
