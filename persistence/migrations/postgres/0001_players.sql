-- Player accounts: one row per registered player (argon2id PHC hashes, never passwords).
CREATE TABLE players (
    player_id     BIGINT PRIMARY KEY,
    username      TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
