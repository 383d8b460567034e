//! How instances on one database tell each other about commits (`LISTEN`/`NOTIFY`): the local
//! wake-ups and channel names the store shares with its batch workers and its listener, the
//! announcements of task changes and queued deliveries, and the listener that hears the others'.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use super::tls::RustlsConnect;
use deadpool_postgres::GenericClient;
use tokio::sync::{Notify, mpsc};

use super::exec;
use super::hot;
use super::hotels;
use crate::store::{ConfigBus, ConfigChange, StoreError};
use crate::{
    domain::{HotelId, Task, TaskStatus},
    events::{ChangeKind, EventBus, TaskChange},
    intake::Outcome,
};

/// What the store shares with its batch workers and its listener: the local wake-ups, and the
/// names under which instances on one database (and schema) tell each other about commits.
#[derive(Clone)]
pub(super) struct Signals {
    pub(super) outbox: Arc<Notify>,
    pub(super) events: EventBus,
    /// This instance's id, in what it announces, so its listener skips its own announcements.
    pub(super) instance: Arc<str>,
    /// `NOTIFY` channel: deliveries were queued (or made due again).
    pub(super) outbox_channel: Arc<str>,
    /// `NOTIFY` channel: tasks changed (for the live board of the other instances).
    pub(super) tasks_channel: Arc<str>,
    /// This instance's hotel cache hears of configuration changes here (its own and, through
    /// `config_channel`, the other instances').
    pub(super) config: ConfigBus,
    /// `NOTIFY` channel: a hotel's configuration changed (for the other instances' caches).
    pub(super) config_channel: Arc<str>,
}

impl Signals {
    /// How a transaction tells the other instances of a hotel's new configuration version.
    pub(super) fn announce_config(&self) -> hotels::Announce<'_> {
        hotels::Announce {
            channel: &self.config_channel,
            instance: &self.instance,
        }
    }

    /// Tells this instance's cache, after the commit, that a hotel is at a new version.
    pub(super) fn config_changed(&self, hotel: &HotelId, version: u64) {
        self.config.publish(ConfigChange::Hotel {
            id: hotel.as_str().to_owned(),
            version,
        });
    }

    /// Wakes this instance's dispatcher after a commit that queued deliveries.
    pub(super) fn queued(&self, n: usize) {
        if n > 0 {
            self.outbox.notify_one();
        }
    }
}

/// A `NOTIFY` payload must stay under 8000 bytes.
const NOTIFY_MAX: usize = 7000;

/// One task's change, as the board and the other instances hear of it.
pub(super) fn change(hotel: &HotelId, t: &Task, kind: ChangeKind) -> TaskChange {
    TaskChange {
        hotel: hotel.clone(),
        task_id: t.id.clone(),
        status: t.status,
        kind,
    }
}

/// The changes of a new order a batch wrote (its tasks, created), as the board sees them.
pub(super) fn batch_changes(hotel: &HotelId, outcome: &Outcome) -> Vec<TaskChange> {
    outcome
        .tasks()
        .iter()
        .map(|t| change(hotel, t, ChangeKind::Created))
        .collect()
}

/// Tells the other instances, with the commit of `c`'s transaction (or at once outside one), which
/// tasks changed and whether deliveries were queued. Lines of `hotel TAB task TAB status TAB kind`
/// after the announcing instance's id, split to fit NOTIFY's payload limit.
pub(super) async fn announce<C: GenericClient + Sync>(
    c: &C,
    s: &Signals,
    changes: &[TaskChange],
    queued: usize,
) -> Result<(), StoreError> {
    if changes.is_empty() && queued == 0 {
        return Ok(());
    }
    let mut channels: Vec<&str> = Vec::new();
    let mut payloads: Vec<String> = Vec::new();
    let mut current = String::new();
    for ch in changes {
        if current.len() > NOTIFY_MAX {
            channels.push(&s.tasks_channel);
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(&s.instance);
        }
        let kind = match ch.kind {
            ChangeKind::Created => "c",
            ChangeKind::StatusChanged => "s",
            ChangeKind::Escalated => "e",
            ChangeKind::Merged => "m",
            ChangeKind::Assigned => "a",
            ChangeKind::Archived => "r",
        };
        current.push('\n');
        current.push_str(ch.hotel.as_str());
        current.push('\t');
        current.push_str(&ch.task_id);
        current.push('\t');
        current.push_str(ch.status.as_str());
        current.push('\t');
        current.push_str(kind);
    }
    if !current.is_empty() {
        channels.push(&s.tasks_channel);
        payloads.push(current);
    }
    if queued > 0 {
        channels.push(&s.outbox_channel);
        payloads.push(s.instance.to_string());
    }
    exec(c, hot::ANNOUNCE, &[&channels, &payloads]).await?;
    Ok(())
}

/// One task change announced by another instance, or None for a line that does not parse.
fn parse_change(line: &str) -> Option<TaskChange> {
    let mut f = line.split('\t');
    let hotel = HotelId::parse(f.next()?).ok()?;
    let task_id = f.next()?.to_owned();
    let status = TaskStatus::parse(f.next()?)?;
    let kind = match f.next()? {
        "c" => ChangeKind::Created,
        "s" => ChangeKind::StatusChanged,
        "e" => ChangeKind::Escalated,
        "m" => ChangeKind::Merged,
        "a" => ChangeKind::Assigned,
        "r" => ChangeKind::Archived,
        _ => return None,
    };
    Some(TaskChange {
        hotel,
        task_id,
        status,
        kind,
    })
}

/// Listens on a connection of its own to what the other instances announce: queued deliveries wake
/// this instance's dispatcher, task changes reach its event bus (the live board). Reconnects after
/// an error; ends when the store is gone. The dispatcher polls anyway, so a missed wake-up only
/// delays a delivery by its poll interval.
pub(super) fn spawn_listener(cfg: tokio_postgres::Config, tls: RustlsConnect, s: &Signals) {
    let outbox = Arc::downgrade(&s.outbox);
    let s = Signals {
        outbox: Arc::new(Notify::new()),
        ..s.clone()
    };
    tokio::spawn(async move {
        loop {
            if outbox.upgrade().is_none() {
                return;
            }
            if let Err(e) = listen(&cfg, tls.clone(), &s, &outbox).await {
                tracing::warn!(error = %e, "PostgreSQL listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(
    cfg: &tokio_postgres::Config,
    tls: RustlsConnect,
    s: &Signals,
    outbox: &Weak<Notify>,
) -> Result<(), StoreError> {
    use futures_util::StreamExt;
    let (client, mut conn) = cfg.connect(tls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    client
        .batch_execute(&format!(
            "LISTEN {}; LISTEN {}; LISTEN {}",
            quote(&s.outbox_channel),
            quote(&s.tasks_channel),
            quote(&s.config_channel)
        ))
        .await?;
    // Configuration changes announced while this instance was not listening were missed: the
    // cache checks every hotel's version once.
    s.config.publish(ConfigChange::Unknown);
    // Whatever was queued while this instance was not listening is picked up now.
    if let Some(o) = outbox.upgrade() {
        o.notify_one();
    }
    let mut alive = tokio::time::interval(Duration::from_secs(2));
    let ended = loop {
        tokio::select! {
            n = rx.recv() => {
                let Some(n) = n else { break None };
                let mut lines = n.payload().split('\n');
                if lines.next() == Some(&*s.instance) {
                    continue;
                }
                if n.channel() == &*s.outbox_channel {
                    match outbox.upgrade() {
                        Some(o) => o.notify_one(),
                        None => break Some(()),
                    }
                } else if n.channel() == &*s.config_channel {
                    if let Some(change) = hotels::parse_announced(&mut lines) {
                        s.config.publish(change);
                    }
                } else {
                    s.events.publish(lines.filter_map(parse_change));
                }
            }
            _ = alive.tick() => {
                if outbox.upgrade().is_none() {
                    break Some(());
                }
            }
        }
    };
    drop(client);
    if ended.is_some() {
        driver.abort();
        return Ok(());
    }
    match driver.await {
        Ok(Ok(())) => Err(StoreError::Unavailable(
            "the listening connection closed".into(),
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(StoreError::Unavailable(format!("listener: {e}"))),
    }
}
