//! Compact JWS with Ed25519 (RFC 7515, RFC 8037): the three base64url parts of a token, signed
//! and split. Only `EdDSA` is ever produced or accepted; the caller checks the claims.

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_compact::{KeyPair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// The one algorithm tokens use.
pub(crate) const ALGORITHM: &str = "EdDSA";

/// Longest header accepted, decoded.
const MAX_HEADER_BYTES: usize = 1024;

/// A token's header, as much of it as is read.
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    /// The algorithm the token claims.
    pub alg: String,
    /// `JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The signing key's id.
    #[serde(default)]
    pub kid: Option<String>,
}

/// `header.payload.signature` for `claims`, signed by `pair` under `kid`.
pub(crate) fn sign(pair: &KeyPair, kid: &str, claims: &impl Serialize) -> Result<String, serde_json::Error> {
    let header = Header { alg: ALGORITHM.into(), typ: Some("JWT".into()), kid: Some(kid.to_owned()) };
    let mut token = Base64UrlUnpadded::encode_string(&serde_json::to_vec(&header)?);
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(&serde_json::to_vec(claims)?));
    let signature = pair.sk.sign(&token, None);
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(signature.as_ref()));
    Ok(token)
}

/// A token taken apart: its header, the signed text and the decoded payload and signature.
pub(crate) struct Parts<'a> {
    /// The decoded header.
    pub header: Header,
    /// `header.payload`, what the signature covers.
    pub signed: &'a str,
    /// The decoded payload (the claims' JSON).
    pub payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Parts<'a> {
    /// Splits `token` into its three parts, refusing anything not `base64url.base64url.base64url`
    /// with a JSON header.
    pub(crate) fn split(token: &'a str) -> Result<Self, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let (signed, signature) = token.rsplit_once('.').ok_or_else(|| invalid("not three dot-separated parts"))?;
        let (header, payload) = signed.split_once('.').ok_or_else(|| invalid("not three dot-separated parts"))?;
        let decode =
            |part: &str, what: &str| Base64UrlUnpadded::decode_vec(part).map_err(|_| invalid(&format!("the {what} is not base64url")));
        let header = decode(header, "header")?;
        if header.len() > MAX_HEADER_BYTES {
            return Err(invalid("the header is too long"));
        }
        let header = serde_json::from_slice(&header).map_err(|_| invalid("the header is not a JSON object with alg"))?;
        Ok(Parts { header, signed, payload: decode(payload, "payload")?, signature: decode(signature, "signature")? })
    }

    /// Whether `key` signed this token.
    pub(crate) fn signed_by(&self, key: &PublicKey) -> bool {
        Signature::from_slice(&self.signature).is_ok_and(|signature| key.verify(self.signed, &signature).is_ok())
    }
}
