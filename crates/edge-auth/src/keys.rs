//! Signing and verification keys from configuration, and the JWKS document.
//!
//! Configuration is a comma-separated list of `kid=base64url` entries: 64-byte Ed25519 key
//! pairs for `jwt_signing_keys` (the first signs, the rest are previous keys still verified),
//! 32-byte public keys for `jwt_public_keys`. Rotation: add the new key first, keep the old one
//! listed until every token it signed has expired (15 minutes), then remove it.

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_compact::{KeyPair, PublicKey, Seed};
use serde::Serialize;

use crate::jws;

/// A key configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The active signing key and its id.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
}

impl SigningKey {
    /// A new random key with this id (for development and tests).
    pub fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the host provides randomness");
        SigningKey { kid: kid.to_owned(), pair: KeyPair::from_seed(Seed::new(seed)) }
    }

    /// Its key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `kid=base64url(key pair)`, the configuration form.
    pub fn to_config(&self) -> String {
        format!("{}={}", self.kid, Base64UrlUnpadded::encode_string(self.pair.as_ref()))
    }

    /// `kid=base64url(public key)`, the public configuration form.
    pub fn public_config(&self) -> String {
        format!("{}={}", self.kid, Base64UrlUnpadded::encode_string(self.pair.pk.as_ref()))
    }

    /// The key pair itself, for tests that sign raw input.
    #[cfg(test)]
    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }

    pub(crate) fn sign(&self, claims: &impl Serialize) -> Result<String, KeyError> {
        jws::sign(&self.pair, &self.kid, claims).map_err(|e| KeyError(e.to_string()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, secret elided)", self.kid())
    }
}

/// Public keys by key id.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<(String, PublicKey)>,
}

fn entries(config: &str) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    config
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (kid, key) =
                entry.split_once('=').ok_or_else(|| KeyError(format!("key entry {:?} must be kid=base64url", short(entry))))?;
            let kid = kid.trim();
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                return Err(KeyError(format!("key id {kid:?} must be letters, digits, '-', '_' or '.'")));
            }
            let bytes = Base64UrlUnpadded::decode_vec(key.trim().trim_end_matches('='))
                .map_err(|e| KeyError(format!("key {kid:?} is not base64url: {e}")))?;
            Ok((kid.to_owned(), bytes))
        })
        .collect()
}

fn short(entry: &str) -> String {
    entry.chars().take(12).collect::<String>() + "…"
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|(kid, _)| kid)).finish()
    }
}

impl KeySet {
    /// Parses signing keys (`jwt_signing_keys`): returns the active key and every public key.
    pub fn from_signing_config(config: &str) -> Result<(SigningKey, KeySet), KeyError> {
        let mut active = None;
        let mut set = KeySet::default();
        for (kid, bytes) in entries(config)? {
            let pair = KeyPair::from_slice(&bytes)
                .ok()
                .filter(|pair| pair.validate().is_ok())
                .ok_or_else(|| KeyError(format!("signing key {kid:?} must be a 64-byte Ed25519 key pair")))?;
            set.insert(&kid, pair.pk)?;
            active.get_or_insert(SigningKey { kid, pair });
        }
        let active = active.ok_or_else(|| KeyError("no signing key configured (jwt_signing_keys)".into()))?;
        Ok((active, set))
    }

    /// Parses public keys (`jwt_public_keys`).
    pub fn from_public_config(config: &str) -> Result<KeySet, KeyError> {
        let mut set = KeySet::default();
        for (kid, bytes) in entries(config)? {
            let key = PublicKey::from_slice(&bytes).map_err(|_| KeyError(format!("public key {kid:?} must be a 32-byte Ed25519 key")))?;
            set.insert(&kid, key)?;
        }
        if set.keys.is_empty() {
            return Err(KeyError("no public key configured (jwt_public_keys)".into()));
        }
        Ok(set)
    }

    fn insert(&mut self, kid: &str, key: PublicKey) -> Result<(), KeyError> {
        if self.keys.iter().any(|(k, _)| k == kid) {
            return Err(KeyError(format!("key id {kid:?} is listed twice")));
        }
        self.keys.push((kid.to_owned(), key));
        Ok(())
    }

    /// The key with this id.
    pub fn public(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    /// The JWKS document (RFC 7517) listing every key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                    "x": Base64UrlUnpadded::encode_string(key.as_ref()),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}
