//! Bearer tokens: minted random (256 bits), stored only as a hash, compared
//! in constant time, expiring and revocable, and tied to a user the policy
//! must still know.
//!
//! A token reads `bgt_<id>_<secret>`: the id (48 bits, not secret) finds
//! the stored record, the secret's sha256 is compared with `subtle`. The
//! secret itself is shown once, at minting, and never stored or logged.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::store::{Store, StoreError, TokenRecord};
use crate::policy::Policy;
use crate::protocol::{UserInfo, ts};

const PREFIX: &str = "bgt_";

/// Why an upgrade request is refused with 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no bearer token: send `Authorization: Bearer <token>` (`breakglass login` stores one)"
    )]
    Missing,
    #[error("this is not a breakglass token")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("token expired; ask an admin for a new one (`breakglass gateway token create`)")]
    Expired,
    #[error("token revoked")]
    Revoked,
    #[error("user `{0}` is no longer in the gateway's policy")]
    UnknownUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A freshly minted token: the text to hand over once, and what is stored.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    pub record: TokenRecord,
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Makes a new token for `user`, valid until `expires_at` if given.
pub fn mint(user: &str, expires_at: Option<DateTime<Utc>>, label: &str) -> Minted {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    let mut rng = rand::rng();
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    Minted {
        token: format!("{PREFIX}{id}_{secret}"),
        record: TokenRecord {
            id,
            user: user.to_string(),
            secret_hash: hash_secret(&secret),
            created_at: ts::now(),
            expires_at,
            revoked_at: None,
            label: label.to_string(),
        },
    }
}

/// Splits a token into (id, secret) when it has the right shape.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 12) && hexy(secret, 64)).then_some((id, secret))
}

/// Checks a stored record against the presented secret and the clock; pure.
pub fn check(record: &TokenRecord, secret: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
    let presented = hash_secret(secret);
    if !bool::from(presented.as_bytes().ct_eq(record.secret_hash.as_bytes())) {
        return Err(AuthError::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if record.expires_at.is_some_and(|t| now >= t) {
        return Err(AuthError::Expired);
    }
    Ok(())
}

/// Resolves an `Authorization` header value to the user it authenticates.
pub async fn authenticate(
    store: &dyn Store,
    policy: &Policy,
    authorization: Option<&str>,
) -> Result<UserInfo, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(AuthError::Missing)?;
    let (id, secret) = parse(token).ok_or(AuthError::Malformed)?;
    let record = store.token(id).await?.ok_or(AuthError::Unknown)?;
    check(&record, secret, ts::now())?;
    policy
        .user(&record.user)
        .ok_or(AuthError::UnknownUser(record.user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_checks_and_its_secret_is_not_stored() {
        let m = mint("alice", None, "test");
        let (id, secret) = parse(&m.token).unwrap();
        assert_eq!(id, m.record.id);
        assert!(!m.record.secret_hash.contains(secret));
        assert_eq!(check(&m.record, secret, ts::now()), Ok(()));
    }

    #[test]
    fn wrong_expired_and_revoked_tokens_are_refused() {
        let now = ts::now();
        let mut m = mint("alice", Some(now + chrono::Duration::hours(1)), "");
        let (_, secret) = parse(&m.token)
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap();
        let other = mint("alice", None, "");
        let (_, other_secret) = parse(&other.token).unwrap();
        assert_eq!(check(&m.record, other_secret, now), Err(AuthError::Unknown));
        assert_eq!(
            check(&m.record, &secret, now + chrono::Duration::hours(2)),
            Err(AuthError::Expired)
        );
        m.record.revoked_at = Some(now);
        assert_eq!(check(&m.record, &secret, now), Err(AuthError::Revoked));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "bgt_",
            "bgt_zz_zz",
            "Bearer x",
            &format!("bgt_{}_{}", "a".repeat(12), "b".repeat(63)),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
