//! Writes a run's host results to the store from its own thread, in
//! batches, so a slow disk never stalls the network side and a crash loses
//! at most a moment (`herd run` records each host as it finishes).

use std::sync::mpsc;
use std::time::Duration;

use super::{RunId, Store, StoreError};
use crate::engine::{HostResult, RunOutcome};

/// The store's writer thread for one run.
pub struct ResultWriter {
    tx: mpsc::Sender<Message>,
    handle: std::thread::JoinHandle<Result<(), StoreError>>,
}

enum Message {
    Result(Box<HostResult>),
    Finish(RunOutcome),
}

impl ResultWriter {
    /// Starts the thread that records `run`'s results in `store`.
    pub fn start(mut store: Store, run: RunId) -> ResultWriter {
        let (tx, rx) = mpsc::channel::<Message>();
        let handle = std::thread::spawn(move || -> Result<(), StoreError> {
            let mut batch = Vec::new();
            let mut finish = None;
            while finish.is_none() {
                // Wait briefly for a message, then take whatever else is queued,
                // so results land in the store in batches, soon after they come.
                let mut messages = Vec::new();
                match rx.recv_timeout(Duration::from_millis(250)) {
                    Ok(msg) => messages.push(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // The run went away without saying how it ended.
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        finish = Some(RunOutcome::Interrupted)
                    }
                }
                messages.extend(rx.try_iter());
                for msg in messages {
                    match msg {
                        Message::Result(r) => batch.push(*r),
                        Message::Finish(outcome) => finish = Some(outcome),
                    }
                }
                if !batch.is_empty() {
                    store.record_results(run, &batch)?;
                    batch.clear();
                }
            }
            if let Some(outcome) = finish {
                store.finish_run(run, outcome)?;
            }
            Ok(())
        });
        ResultWriter { tx, handle }
    }

    /// Queues a host's result.
    pub fn send(&self, result: HostResult) {
        let _ = self.tx.send(Message::Result(Box::new(result)));
    }

    /// Records how the run ended and waits for everything to be written.
    pub fn finish(self, outcome: RunOutcome) -> Result<(), StoreError> {
        let _ = self.tx.send(Message::Finish(outcome));
        drop(self.tx);
        match self.handle.join() {
            Ok(written) => written,
            // A bug in the writer: not a store error to explain away.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
