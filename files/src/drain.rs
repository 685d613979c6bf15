//! Uploads in flight, so a stopping server lets them finish.
//!
//! libunftp closes every control connection at once when told to shut down, even in the
//! middle of a transfer, so the partner would never see its answer. [`serve`](crate::serve)
//! therefore first drains: new uploads are refused with a transient error (450, send again),
//! the ones in progress run to their end and get their reply, and only then is libunftp told.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The uploads in progress and whether the server is draining. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Transfers {
    /// How many uploads are in progress; watched by [`Transfers::drain`].
    count: Arc<watch::Sender<usize>>,
    /// Set once shutdown began: no new upload starts.
    draining: Arc<AtomicBool>,
}

impl Default for Transfers {
    fn default() -> Self {
        Transfers {
            count: Arc::new(watch::Sender::new(0)),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// One upload in progress; it ends when this is dropped.
#[derive(Debug)]
pub struct Transfer(Arc<watch::Sender<usize>>);

impl Drop for Transfer {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Transfers {
    /// Begin an upload; `None` when the server is draining.
    pub fn start(&self) -> Option<Transfer> {
        // Counted before the flag is read, so `drain` either sees this upload or it sees the
        // flag set and gives up at once: never both missed.
        self.count.send_modify(|n| *n += 1);
        let transfer = Transfer(self.count.clone());
        if self.draining.load(Ordering::SeqCst) {
            return None; // dropping `transfer` uncounts it
        }
        Some(transfer)
    }

    /// Refuse new uploads and wait until those in progress ended, at most `grace`; `false`
    /// when some were still running then.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.draining.store(true, Ordering::SeqCst);
        let mut rx = self.count.subscribe();
        let idle = tokio::time::timeout(grace, rx.wait_for(|n| *n == 0)).await;
        matches!(idle, Ok(Ok(_)))
    }

    /// [`Transfers::drain`] for a door's shutdown, saying in the log what it waits for and
    /// when it gives up. `(uploads in progress when it began, all of them ended)`.
    pub async fn drain_logged(&self, grace: Duration, door: &str) -> (usize, bool) {
        let in_progress = self.in_progress();
        if in_progress > 0 {
            tracing::info!(
                uploads = in_progress,
                "{door}: letting uploads in progress finish"
            );
        }
        let ended = self.drain(grace).await;
        if !ended {
            tracing::warn!(
                uploads = self.in_progress(),
                grace_secs = grace.as_secs(),
                "{door}: uploads still running after the grace period; closing them (nothing \
                 of them is delivered)"
            );
        }
        (in_progress, ended)
    }

    /// Uploads in progress now.
    pub fn in_progress(&self) -> usize {
        *self.count.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_uploads_in_progress_and_refuses_new_ones() {
        let t = Transfers::default();
        let first = t.start().expect("not draining yet");
        assert_eq!(t.in_progress(), 1);
        let drained = tokio::spawn({
            let t = t.clone();
            async move { t.drain(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(t.start().is_none(), "no new upload while draining");
        assert_eq!(t.in_progress(), 1, "a refused start is not counted");
        assert!(!drained.is_finished(), "waits for the upload in progress");
        drop(first);
        assert!(drained.await.unwrap());
    }

    #[tokio::test]
    async fn drain_gives_up_after_the_grace_period() {
        let t = Transfers::default();
        let _stuck = t.start();
        assert!(!t.drain(Duration::from_millis(50)).await);
    }
}
