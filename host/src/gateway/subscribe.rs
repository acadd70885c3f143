//! `subscribe` hooks run after the client has its answer, from a bounded
//! queue; when it is full the notification is dropped, logged and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, mpsc};

use crate::bindings::Request;
use crate::runtime::Plugin;

/// Notifications that may wait at once.
pub const SUBSCRIBE_QUEUE: usize = 1024;
/// Subscribers that may run at once.
const SUBSCRIBE_CONCURRENCY: usize = 8;

struct Job {
    plugin: Arc<Plugin>,
    function: String,
    request: Request,
}

/// The queue and its workers.
pub struct SubscribeQueue {
    sender: Option<mpsc::Sender<Job>>,
    dropped: Arc<AtomicU64>,
}

impl SubscribeQueue {
    /// Starts the worker on the current tokio runtime.
    pub fn start(capacity: usize) -> Self {
        let dropped = Arc::new(AtomicU64::new(0));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("no tokio runtime: subscribe hooks will not run");
            return SubscribeQueue {
                sender: None,
                dropped,
            };
        };
        let (sender, mut receiver) = mpsc::channel::<Job>(capacity);
        runtime.spawn(async move {
            let slots = Arc::new(Semaphore::new(SUBSCRIBE_CONCURRENCY));
            while let Some(job) = receiver.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                tokio::spawn(async move {
                    let _permit = permit;
                    let outcome = job.plugin.call(&job.function, &job.request).await;
                    match outcome {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => tracing::warn!(
                            plugin = job.plugin.app_id(),
                            function = job.function,
                            "subscriber answered an error: {} {}",
                            err.status,
                            err.reason
                        ),
                        Err(err) => {
                            tracing::warn!(plugin = job.plugin.app_id(), "subscriber failed: {err}")
                        }
                    }
                });
            }
        });
        SubscribeQueue {
            sender: Some(sender),
            dropped,
        }
    }

    /// Queues a notification; never waits.
    pub fn push(&self, plugin: Arc<Plugin>, function: &str, request: Request) {
        let Some(sender) = &self.sender else { return };
        let job = Job {
            plugin,
            function: function.to_string(),
            request,
        };
        if let Err(err) = sender.try_send(job) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let job = match err {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            tracing::warn!(
                plugin = job.plugin.app_id(),
                function = job.function,
                dropped,
                "the subscribe queue is full; a notification was dropped"
            );
        }
    }

    /// Notifications dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Notifications waiting.
    pub fn depth(&self) -> usize {
        self.sender
            .as_ref()
            .map(|s| s.max_capacity() - s.capacity())
            .unwrap_or(0)
    }
}
