-- Signed chain heads (ed25519 over "breakglass-checkpoint-v1\n{seq}\n{hash}\n{at}").
CREATE TABLE checkpoints (
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (seq, at)
);
