//! Key changes heard at once: a connection of its own that `LISTEN`s on `authd_keys` (the
//! trigger on `auth.signing_keys` notifies it on every committed change) and wakes whoever
//! waits on [`KeyChanges`]. It reconnects after a failure, and wakes the waiter once more after
//! each reconnection, since changes made while it was away were not heard.

use std::sync::Arc;
use std::time::Duration;

use auth_pgconn::PgConnector;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

/// The channel the key trigger notifies.
pub(super) const KEYS_CHANNEL: &str = "authd_keys";

/// Wakes its holder when the signing keys may have changed. The listening task ends when this
/// value is dropped.
#[derive(Debug)]
pub struct KeyChanges {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyChanges {
    /// Waits until a change is heard (or the listener reconnected). A change heard while nobody
    /// waited is kept for the next call, so none is missed by a holder busy reloading.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for KeyChanges {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts listening through a connection of `connector`'s own.
pub(super) fn listen(connector: Arc<PgConnector>) -> KeyChanges {
    let notify = Arc::new(Notify::new());
    let task = tokio::spawn(listen_forever(connector, Arc::clone(&notify)));
    KeyChanges { notify, task }
}

async fn listen_forever(connector: Arc<PgConnector>, notify: Arc<Notify>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match listen_once(&connector, &notify).await {
            Ok(()) => backoff = Duration::from_millis(500),
            Err(error) => {
                tracing::warn!(%error, "not listening for key changes; the periodic key reload still runs");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One connection's life: `LISTEN`, then a wake-up per notification until the connection ends.
async fn listen_once(connector: &PgConnector, notify: &Notify) -> Result<(), String> {
    let (client, mut connection) = connector.connect().await.map_err(|e| e.to_string())?;
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be driven for the client's `LISTEN` to complete: on a task of its own,
    // handing notifications over.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if heard.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
        }
        Ok(())
    });
    let listening = client.batch_execute(&format!("LISTEN {KEYS_CHANNEL}")).await;
    if let Err(error) = listening {
        driver.abort();
        return Err(error.to_string());
    }
    tracing::debug!("listening for key changes");
    // Whatever changed while nobody listened.
    notify.notify_one();
    while hearing.recv().await.is_some() {
        notify.notify_one();
    }
    drop(client);
    match driver.await {
        Ok(Ok(())) => Err("the connection closed".into()),
        Ok(Err(error)) => Err(error),
        Err(error) => Err(error.to_string()),
    }
}
