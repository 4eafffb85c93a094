//! NATS JetStream between the shards of a galaxy (docs/SHARDING.md, "The handoff"): the
//! handoff stream, publishing with a message id (JetStream drops a repeat within the
//! duplicate window), and each shard's durable inbox with explicit acks (a message not acked
//! within the ack wait is delivered again). Idempotence beyond the window is the receiver's
//! (a per-entity epoch); this module only moves bytes.
//!
//! Subjects: `sf.<galaxy>.handoff.<from>.<to>`; stream `sf_<galaxy>_handoff`; the inbox of
//! shard S is the durable pull consumer `handoff-<S>`. Galaxy and shard names are checked by
//! `starforge_components::placement::valid_name`, so they are safe subject tokens.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures_util::StreamExt;
use starforge_components::placement::valid_name;

/// Settings of the stream and the inboxes (the same on every shard of a galaxy). They apply
/// when the stream or an inbox is created; an existing one keeps the settings it was created
/// with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusOptions {
    /// How long an unacked message waits before it is delivered again.
    pub ack_wait: Duration,
    /// How long the stream keeps a message (acked or not).
    pub max_age: Duration,
    /// How long JetStream remembers a message id to drop a repeat.
    pub duplicate_window: Duration,
    /// Longest wait for NATS to answer a request or confirm a publish.
    pub timeout: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            ack_wait: Duration::from_secs(5),
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong with NATS.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A galaxy or shard name that cannot be a subject token.
    #[error("{0:?} is not a valid galaxy or shard name (lowercase letters, digits and '-', at most 63)")]
    BadName(String),
    /// No connection.
    #[error("NATS at {url} is unreachable: {reason}")]
    Unreachable {
        /// The server.
        url: String,
        /// The client's message.
        reason: String,
    },
    /// A JetStream request failed (NATS down, JetStream off, a timeout).
    #[error("NATS: {what} failed: {reason}")]
    Failed {
        /// What was being done.
        what: &'static str,
        /// The client's message.
        reason: String,
    },
}

fn failed(what: &'static str, error: impl std::fmt::Display) -> BusError {
    BusError::Failed { what, reason: error.to_string() }
}

/// The galaxy's JetStream, connected.
#[derive(Clone)]
pub struct Bus {
    js: Context,
    galaxy: String,
    options: BusOptions,
}

/// A publish JetStream confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's sequence in the stream (the first one's, for a repeat).
    pub sequence: u64,
    /// A repeat of a message id already stored within the duplicate window: not stored again.
    pub duplicate: bool,
}

impl Bus {
    /// Connects to `url` and creates the galaxy's handoff stream if it is missing. The client
    /// reconnects by itself after a connection is lost.
    pub async fn connect(url: &str, galaxy: &str, options: BusOptions) -> Result<Bus, BusError> {
        if !valid_name(galaxy) {
            return Err(BusError::BadName(galaxy.to_owned()));
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(options.timeout)
            .connect(url)
            .await
            .map_err(|e| BusError::Unreachable { url: url.to_owned(), reason: e.to_string() })?;
        let mut js = jetstream::new(client);
        js.set_timeout(options.timeout);
        let bus = Bus { js, galaxy: galaxy.to_owned(), options };
        let config = Config {
            name: bus.stream_name(),
            subjects: vec![format!("sf.{galaxy}.handoff.*.*")],
            storage: StorageType::File,
            max_age: options.max_age,
            duplicate_window: options.duplicate_window,
            ..Config::default()
        };
        bus.js.get_or_create_stream(config).await.map_err(|e| failed("creating the handoff stream", e))?;
        Ok(bus)
    }

    /// The handoff stream's name.
    pub fn stream_name(&self) -> String {
        format!("sf_{}_handoff", self.galaxy)
    }

    /// Publishes `payload` from shard `from` to shard `to` under `message_id`, and waits for
    /// JetStream to confirm it is stored.
    pub async fn publish(&self, from: &str, to: &str, message_id: &str, payload: Bytes) -> Result<Published, BusError> {
        for name in [from, to] {
            if !valid_name(name) {
                return Err(BusError::BadName(name.to_owned()));
            }
        }
        let subject = format!("sf.{}.handoff.{from}.{to}", self.galaxy);
        let message = PublishMessage::build().payload(payload).message_id(message_id);
        let ack = self.js.send_publish(subject, message).await.map_err(|e| failed("publishing", e))?;
        let ack = ack.await.map_err(|e| failed("waiting for the publish to be stored", e))?;
        Ok(Published { sequence: ack.sequence, duplicate: ack.duplicate })
    }

    /// The durable inbox of shard `shard` (created if missing): every message published to it,
    /// from the first one not acked.
    pub async fn inbox(&self, shard: &str) -> Result<Inbox, BusError> {
        if !valid_name(shard) {
            return Err(BusError::BadName(shard.to_owned()));
        }
        let stream =
            self.js.get_stream(self.stream_name()).await.map_err(|e| failed("opening the handoff stream", e))?;
        let name = format!("handoff-{shard}");
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: format!("sf.{}.handoff.*.{shard}", self.galaxy),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.options.ack_wait,
            ..pull::Config::default()
        };
        let consumer =
            stream.get_or_create_consumer(&name, config).await.map_err(|e| failed("creating the inbox", e))?;
        Ok(Inbox { consumer })
    }

    /// Deletes the galaxy's handoff stream and every inbox (tests and tools; a running galaxy
    /// never does this).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.js.delete_stream(self.stream_name()).await.map_err(|e| failed("deleting the handoff stream", e))?;
        Ok(())
    }
}

/// A shard's durable inbox.
pub struct Inbox {
    consumer: PullConsumer,
}

/// One delivered message; acked only by [`Delivery::ack`].
pub struct Delivery {
    /// The sending shard (from the subject).
    pub from: String,
    /// The message id it was published with.
    pub message_id: Option<String>,
    /// The bytes.
    pub payload: Bytes,
    /// Its sequence in the stream.
    pub sequence: u64,
    /// How many times it has been delivered (1 the first time).
    pub delivered: i64,
    message: jetstream::Message,
}

impl Inbox {
    /// Up to `max` messages, waiting at most `wait` for the first.
    pub async fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| failed("fetching from the inbox", e))?;
        let mut out = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| failed("fetching from the inbox", e))?;
            let (sequence, delivered) = match message.info() {
                Ok(info) => (info.stream_sequence, info.delivered),
                Err(e) => return Err(failed("reading a message's metadata", e)),
            };
            // sf.<galaxy>.handoff.<from>.<to>
            let from = message.subject.split('.').nth(3).unwrap_or_default().to_owned();
            let message_id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_owned());
            out.push(Delivery { from, message_id, payload: message.payload.clone(), sequence, delivered, message });
        }
        Ok(out)
    }
}

impl Delivery {
    /// Acks the message and waits for JetStream to confirm it (it is then not delivered again,
    /// except by a redelivery already on its way).
    pub async fn ack(&self) -> Result<(), BusError> {
        self.message.double_ack().await.map_err(|e| failed("acking", e))
    }
}
