//! The gate between the HTTP handlers (tokio tasks) and the game loop (the Bevy app on the main
//! thread).
//!
//! Handlers hold a cloneable [`GameGate`] and send [`GameRequest`]s; the game loop owns the
//! `tokio::sync::mpsc::Receiver<GameRequest>` from [`GameGate::channel`] and drains it with
//! `try_recv` once per frame (never blocking). Answers go back through the `oneshot` sender inside
//! the request.
//!
//! If the game loop is gone (receiver or reply sender dropped), the gate's methods return
//! [`GateError`] and handlers answer 503.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// How long a handler waits for the game loop to accept a request and to answer it before
/// giving up with [`GateError::Timeout`]. Generous: a healthy loop answers within a frame or
/// two, but it may be catching up after an overload.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the game loop created for a new player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartingEmpire {
    /// The player's id: the raw value of the new empire's `EntityId`.
    pub player_id: u64,
    /// The `EntityId` raw value of the player's home colony.
    pub home_colony: u64,
    /// The `EntityId` raw values of the player's starting ships.
    pub ships: Vec<u64>,
}

/// A request from the HTTP side to the game loop.
#[derive(Debug)]
pub enum GameRequest {
    /// Create the starting empire for a new player named `name`; the game loop answers with its
    /// ids (player_id is the empire's EntityId raw value) or an error text.
    ///
    /// The handler may have given up by the time the loop gets to it ([`GATE_TIMEOUT`]): the loop
    /// should skip the request if `reply.is_closed()`, and if `reply.send` fails after creating,
    /// the empire has no account (it can be removed or left to the NPCs).
    CreatePlayer {
        /// The account's username, used as the empire's name.
        name: String,
        /// Where the game loop sends its answer.
        reply: oneshot::Sender<Result<StartingEmpire, String>>,
    },
    /// Disconnect this player's live connection, if any, telling the client `reason`.
    /// Sent on every successful login (a newer login replaces an older connection): the game loop
    /// ignores it when the player is not connected. It is queued before the login response is
    /// sent, so it is processed before the new client can connect with its token.
    Kick {
        /// The player to disconnect.
        player_id: u64,
        /// The sentence shown to the disconnected client.
        reason: String,
        /// Kick only a connection made with a token from a login numbered below this one (a
        /// relogin replaces older connections, never the one its own token opens, however late
        /// this request reaches the game loop); `None` kicks any connection (admin kick).
        before_login: Option<u64>,
    },
}

/// Why a request through the gate failed. The `Display` text is the reason shown with a 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The receiver or the reply sender was dropped: the game loop has stopped.
    #[error("the game server is not running (shutting down or restarting); try again later")]
    Closed,
    /// The game loop did not take or answer the request within [`GATE_TIMEOUT`].
    #[error("the game server is overloaded and did not answer in time; try again later")]
    Timeout,
    /// The game loop answered with an error.
    #[error("the game server could not create the empire: {0}")]
    Rejected(String),
}

/// Cloneable handle used by HTTP handlers; the game loop holds the receiver and drains it with
/// `try_recv` each frame.
#[derive(Clone, Debug)]
pub struct GameGate {
    tx: mpsc::Sender<GameRequest>,
}

impl GameGate {
    /// A gate and the receiver the game loop drains. `capacity` bounds the requests waiting for
    /// the next frame (at least 1); senders wait when it is full.
    pub fn channel(capacity: usize) -> (GameGate, mpsc::Receiver<GameRequest>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (GameGate { tx }, rx)
    }

    /// Asks the game loop to create the starting empire for `name` and waits for its answer.
    pub async fn create_player(&self, name: String) -> Result<StartingEmpire, GateError> {
        let (reply, answer) = oneshot::channel();
        self.send(GameRequest::CreatePlayer { name, reply }).await?;
        match tokio::time::timeout(GATE_TIMEOUT, answer).await {
            Err(_) => Err(GateError::Timeout),
            Ok(Err(_)) => Err(GateError::Closed),
            Ok(Ok(result)) => result.map_err(GateError::Rejected),
        }
    }

    /// Queues a kick of `player_id`'s live connection (if any). Returns once it is queued.
    pub async fn kick(&self, player_id: u64, reason: String) -> Result<(), GateError> {
        self.send(GameRequest::Kick { player_id, reason, before_login: None }).await
    }

    /// Asks the game loop to close connections of `player_id` opened by tokens of logins
    /// numbered below `login` (see [`GameRequest::Kick`]).
    pub async fn replace(&self, player_id: u64, login: u64, reason: String) -> Result<(), GateError> {
        self.send(GameRequest::Kick { player_id, reason, before_login: Some(login) }).await
    }

    /// Whether the game loop has dropped its receiver.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    async fn send(&self, request: GameRequest) -> Result<(), GateError> {
        match tokio::time::timeout(GATE_TIMEOUT, self.tx.send(request)).await {
            Err(_) => Err(GateError::Timeout),
            Ok(Err(_)) => Err(GateError::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(f)
    }

    #[test]
    fn create_player_round_trip() {
        block_on(async {
            let (gate, mut rx) = GameGate::channel(4);
            let game = tokio::spawn(async move {
                while let Some(req) = rx.recv().await {
                    if let GameRequest::CreatePlayer { name, reply } = req {
                        let answer = if name == "bad" {
                            Err("no free home system".to_string())
                        } else {
                            Ok(StartingEmpire { player_id: 5, home_colony: 6, ships: vec![7, 8] })
                        };
                        let _ = reply.send(answer);
                    }
                }
            });
            let empire = gate.create_player("ann".into()).await.expect("created");
            assert_eq!(empire, StartingEmpire { player_id: 5, home_colony: 6, ships: vec![7, 8] });
            assert_eq!(gate.create_player("bad".into()).await, Err(GateError::Rejected("no free home system".into())));
            drop(gate);
            game.await.expect("game task");
        });
    }

    #[test]
    fn a_stopped_game_loop_is_reported() {
        block_on(async {
            let (gate, rx) = GameGate::channel(4);
            drop(rx);
            assert!(gate.is_closed());
            assert_eq!(gate.kick(1, "bye".into()).await, Err(GateError::Closed));
            assert_eq!(gate.create_player("ann".into()).await, Err(GateError::Closed));

            // Receiver alive, but the reply sender is dropped unanswered.
            let (gate, mut rx) = GameGate::channel(4);
            let game = tokio::spawn(async move { drop(rx.recv().await) });
            assert_eq!(gate.create_player("ann".into()).await, Err(GateError::Closed));
            game.await.expect("game task");
        });
    }
}
