//! Signed checkpoints: the gateway's ed25519 signature over its chain head.
//! A chain alone cannot show that its newest entries were cut off; a
//! signed (seq, hash) that the remaining chain no longer reaches can.
//!
//! Pure: keys and times are arguments; reading and writing the key file is
//! the gateway's business.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::protocol::Checkpoint;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the gateway key `{0}` is not an ed25519 public key")]
    BadKey(String),
    #[error("checkpoint at entry {seq}: bad signature (forged, or signed by another key)")]
    BadSignature { seq: u64 },
}

/// Makes a signing key from 32 secret bytes.
pub fn signing_key(secret: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(secret)
}

/// The public key in the form `hello` and `/v1/audit/key` give it (hex).
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// Signs the head `(seq, hash)` as of `at`.
pub fn sign(key: &SigningKey, seq: u64, hash: &str, at: DateTime<Utc>) -> Checkpoint {
    let signature = key.sign(Checkpoint::message(seq, hash, at).as_bytes());
    Checkpoint {
        seq,
        hash: hash.to_string(),
        at,
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Checks a checkpoint's signature against the gateway's public key (hex).
pub fn verify(public_key_hex: &str, c: &Checkpoint) -> Result<(), CheckpointError> {
    let bad_key = || CheckpointError::BadKey(public_key_hex.to_string());
    let key_bytes: [u8; 32] = hex::decode(public_key_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad_key)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| bad_key())?;
    let bad_sig = || CheckpointError::BadSignature { seq: c.seq };
    let sig_bytes: [u8; 64] = hex::decode(&c.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad_sig)?;
    key.verify(
        Checkpoint::message(c.seq, &c.hash, c.at).as_bytes(),
        &Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| bad_sig())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T03:00:00.250Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_signed_head_verifies_and_any_change_to_it_does_not() {
        let key = signing_key(&[7u8; 32]);
        let public = public_key_hex(&key);
        let c = sign(&key, 42, &"ab".repeat(32), at());
        assert_eq!(verify(&public, &c), Ok(()));
        for forged in [
            Checkpoint {
                seq: 41,
                ..c.clone()
            },
            Checkpoint {
                hash: "cd".repeat(32),
                ..c.clone()
            },
            Checkpoint {
                at: at() + chrono::Duration::seconds(1),
                ..c.clone()
            },
        ] {
            assert!(matches!(
                verify(&public, &forged),
                Err(CheckpointError::BadSignature { .. })
            ));
        }
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let theirs = signing_key(&[1u8; 32]);
        let ours = public_key_hex(&signing_key(&[2u8; 32]));
        let c = sign(&theirs, 1, &"00".repeat(32), at());
        assert_eq!(
            verify(&ours, &c),
            Err(CheckpointError::BadSignature { seq: 1 })
        );
        assert!(matches!(verify("zz", &c), Err(CheckpointError::BadKey(_))));
    }
}
