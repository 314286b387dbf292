//! Independent requests of one run on a few threads: the Kestra API listings of a large instance
//! are hundreds of small requests (a directory of namespace files each, a page of flows each),
//! whose time is mostly the server's latency. Results and log lines come back in the order of the
//! inputs, and log lines are written by the calling thread only (`progress`'s rule: a JNI sink
//! never runs on a worker thread).

use crate::error::CoreError;
use crate::progress::{Log, LogEvent};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Requests in flight at once: enough to hide a server's latency, few enough not to load it.
pub const WORKERS: usize = 4;

/// `work` for each of `inputs` on up to `WORKERS` threads; the results in input order, or the
/// error of the first input (in that order) that failed. After a failure no new input starts.
/// Each input's log lines are kept and written to `log` afterwards, input by input.
pub fn each<I: Sync, T: Send>(inputs: &[I], log: &mut Log, work: impl Fn(&I, &mut Log) -> Result<T, CoreError> + Sync) -> Result<Vec<T>, CoreError> {
    type Slot<T> = Option<(Vec<LogEvent>, Result<T, CoreError>)>;
    let slots: Mutex<Vec<Slot<T>>> = Mutex::new((0..inputs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let worker = || {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= inputs.len() || failed.load(Ordering::SeqCst) {
                return;
            }
            let mut events = Vec::new();
            let mut keep = |e: &LogEvent| events.push(e.clone());
            // Redaction happens when the lines are written to the caller's log.
            let mut kept = Log::new(&mut keep, Vec::new());
            let result = work(&inputs[i], &mut kept);
            drop(kept);
            failed.fetch_or(result.is_err(), Ordering::SeqCst);
            slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[i] = Some((events, result));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..WORKERS.min(inputs.len()) {
            scope.spawn(worker);
        }
        worker();
    });
    let mut results = Vec::with_capacity(inputs.len());
    // Inputs are taken in order, so every input before a failed one ran: the first gap comes
    // after the first error.
    for (events, result) in slots.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()).into_iter().flatten() {
        for event in events {
            log.emit(event.level, event.message);
        }
        results.push(result?);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::progress::Level;

    fn lines(run: impl FnOnce(&mut Log)) -> Vec<String> {
        let mut lines = Vec::new();
        let mut sink = |e: &LogEvent| lines.push(e.message.clone());
        let mut log = Log::new(&mut sink, Vec::new());
        run(&mut log);
        drop(log);
        lines
    }

    #[test]
    fn results_and_log_lines_keep_the_order_of_the_inputs() {
        let inputs: Vec<u64> = (0..40).collect();
        let mut results = Vec::new();
        let logged = lines(|log| {
            results = each(&inputs, log, |n, log| {
                // Later inputs finish first.
                std::thread::sleep(std::time::Duration::from_millis(40 - n));
                log.info(format!("item {n}"));
                Ok(n * 2)
            })
            .unwrap();
        });
        assert_eq!(results, inputs.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(logged, inputs.iter().map(|n| format!("item {n}")).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_failure_in_input_order_is_returned_and_stops_new_work() {
        let inputs: Vec<usize> = (0..200).collect();
        let started = AtomicUsize::new(0);
        let mut outcome = None;
        let logged = lines(|log| {
            outcome = Some(each(&inputs, log, |n, log| {
                started.fetch_add(1, Ordering::SeqCst);
                log.emit(Level::Warn, format!("item {n}"));
                if *n == 3 || *n == 5 { Err(CoreError::new(ErrorCode::Network, format!("failed at {n}"))) } else { Ok(*n) }
            }));
        });
        let err = outcome.unwrap().unwrap_err();
        assert_eq!(err.message, "failed at 3");
        assert!(started.load(Ordering::SeqCst) < 200, "no new input after a failure");
        assert_eq!(logged, (0..=3).map(|n| format!("item {n}")).collect::<Vec<_>>(), "lines up to the failed input, in order");
    }

    #[test]
    fn lines_are_redacted_by_the_callers_log() {
        let secret = crate::secret::Secret::new("tok-fan-out-secret");
        let mut lines = Vec::new();
        let mut sink = |e: &LogEvent| lines.push(e.message.clone());
        let mut log = Log::new(&mut sink, vec![secret]);
        each(&[1], &mut log, |_, log| {
            log.info("token tok-fan-out-secret refused");
            Ok(())
        })
        .unwrap();
        drop(log);
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains("tok-fan-out-secret"), "{}", lines[0]);
    }
}
