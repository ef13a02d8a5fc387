//! SIGINT and SIGTERM, watched once for the whole process. A run stops its
//! steps where they are and still finishes (heals, stops the nodes, takes
//! the hosts down); a batch of runs stops after the run in progress. Once
//! tokio watches a signal it keeps its handler for the life of the
//! process, so one watcher serves every run of a batch, including the
//! moments between runs.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static RAISED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// Starts watching; call once, inside the runtime.
pub fn watch() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            RAISED.store(true, Ordering::SeqCst);
            NOTIFY.notify_waiters();
        }
    });
    Ok(())
}

/// Whether a signal has come.
pub fn raised() -> bool {
    RAISED.load(Ordering::SeqCst)
}

/// Returns once a signal has come (at once if one already has).
pub async fn wait() {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a signal between the two
        // still wakes this waiter.
        notified.as_mut().enable();
        if raised() {
            return;
        }
        notified.await;
    }
}
