//! The attack suite on the verifier, natively; the same checks run end to end in tests/e2e.

use std::collections::HashSet;

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

/// This product's claims, as an independent implementation (jwt-simple) writes them.
#[derive(Debug, Serialize, Deserialize)]
struct Custom {
    sid: String,
    ep: u64,
    inc: String,
}

/// The same key as jwt-simple's.
fn independent(key: &SigningKey) -> Ed25519KeyPair {
    Ed25519KeyPair::from_bytes(key.pair().as_ref()).unwrap().with_key_id(key.kid())
}

fn audience() -> Audience {
    Audience { issuer: "video-edge".into(), audience: "video-edge-api".into() }
}

fn setup() -> (Issuer, Verifier, SigningKey) {
    let key = SigningKey::generate("k1");
    let config = key.to_config();
    let (active, set) = KeySet::from_signing_config(&config).unwrap();
    (Issuer::new(active, audience()), Verifier::new(set, audience()), key)
}

fn b64(value: &serde_json::Value) -> String {
    Base64UrlUnpadded::encode_string(value.to_string().as_bytes())
}

fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
    let mut it = token.split('.');
    let mut decode = || serde_json::from_slice(&Base64UrlUnpadded::decode_vec(it.next().unwrap()).unwrap()).unwrap();
    let (h, p) = (decode(), decode());
    (h, p, token.rsplit('.').next().unwrap().to_owned())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Signs arbitrary claims with the real key through jwt-simple (for time and audience attacks).
fn signed_with(key: &SigningKey, edit: impl FnOnce(&mut JWTClaims<Custom>)) -> String {
    let custom = Custom { sid: "s1".into(), ep: 0, inc: "i1".into() };
    let mut claims = jwt_simple::claims::Claims::with_custom_claims(custom, Duration::from_secs(900))
        .with_issuer("video-edge")
        .with_audience("video-edge-api")
        .with_subject("u1");
    edit(&mut claims);
    independent(key).sign(claims).unwrap()
}

fn session(epoch: u64) -> Session<'static> {
    Session { id: "s1", epoch, incarnation: "i1" }
}

#[test]
fn issued_tokens_verify_into_a_principal() {
    let (issuer, verifier, _) = setup();
    let token = issuer.issue("u1", &session(3), vec!["admin".into()]).unwrap();
    let principal = verifier.verify(&token).unwrap();
    assert_eq!((principal.user_id.as_str(), principal.session_id.as_str(), principal.epoch), ("u1", "s1", 3));
    assert!(principal.has_role("admin"));
    assert!(principal.expires_at > now() + 800 && principal.expires_at <= now() + 900);
    let (header, payload, _) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], "k1");
    assert_eq!(principal.incarnation, "i1");
    for claim in ["iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti", "ep", "inc"] {
        assert!(payload.get(claim).is_some(), "missing {claim}: {payload}");
    }
    let other = issuer.issue("u1", &session(3), vec![]).unwrap();
    assert_ne!(parts(&other).1["jti"], payload["jti"], "jti is unique");
}

/// What the issuer signs, jwt-simple verifies with the published key and reads the same claims.
#[test]
fn issued_tokens_verify_with_an_independent_implementation() {
    let (issuer, _, key) = setup();
    let token = issuer.issue("u1", &session(3), vec![]).unwrap();
    let public = Ed25519PublicKey::from_bytes(key.pair().pk.as_ref()).unwrap();
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from(["video-edge".to_owned()])),
        allowed_audiences: Some(HashSet::from(["video-edge-api".to_owned()])),
        ..Default::default()
    };
    let claims = public.verify_token::<Custom>(&token, Some(options)).unwrap();
    assert_eq!((claims.subject.as_deref(), claims.custom.sid.as_str(), claims.custom.ep), (Some("u1"), "s1", 3));
    assert_eq!(claims.expires_at.unwrap().as_secs() - claims.issued_at.unwrap().as_secs(), ACCESS_TOKEN_TTL_SECS);
}

#[test]
fn upload_tokens_and_access_tokens_are_not_interchangeable() {
    let (issuer, verifier, key) = setup();
    let set = KeySet::from_signing_config(&key.to_config()).unwrap().1;
    let uploads = Verifier::new(set, audience().uploads());
    let upload = issuer.issue_for_uploads("u1", &session(3)).unwrap();
    let principal = uploads.verify(&upload).unwrap();
    assert_eq!((principal.user_id.as_str(), principal.session_id.as_str(), principal.epoch), ("u1", "s1", 3));
    assert!(principal.roles.is_empty(), "an upload token carries no roles");
    assert_eq!(parts(&upload).1["aud"], "video-edge-api#uploads");
    assert!(matches!(verifier.verify(&upload), Err(AuthError::Invalid(_))), "an API verifier refuses an upload token");
    let access = issuer.issue("u1", &session(3), vec![]).unwrap();
    assert!(matches!(uploads.verify(&access), Err(AuthError::Invalid(_))), "the upload verifier refuses an access token");
}

#[test]
fn alg_none_is_refused() {
    let (issuer, verifier, _) = setup();
    let (mut header, payload, _) = parts(&issuer.issue("u1", &session(0), vec![]).unwrap());
    header["alg"] = "none".into();
    for token in [format!("{}.{}.", b64(&header), b64(&payload)), format!("{}.{}", b64(&header), b64(&payload))] {
        assert!(matches!(verifier.verify(&token), Err(AuthError::Invalid(_))), "{token}");
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let (_, verifier, key) = setup();
    let public = Base64UrlUnpadded::decode_vec(key.public_config().split_once('=').unwrap().1).unwrap();
    let hmac = HS256Key::from_bytes(&public).with_key_id("k1");
    let custom = Custom { sid: "s1".into(), ep: 0, inc: "i1".into() };
    let claims = jwt_simple::claims::Claims::with_custom_claims(custom, Duration::from_secs(900))
        .with_issuer("video-edge")
        .with_audience("video-edge-api")
        .with_subject("u1");
    let token = hmac.authenticate(claims).unwrap();
    assert!(matches!(verifier.verify(&token), Err(AuthError::Invalid(m)) if m.contains("HS256")));
}

#[test]
fn unknown_kid_and_foreign_keys_are_refused() {
    let (_, verifier, _) = setup();
    let stranger = SigningKey::generate("k9");
    let token = signed_with(&stranger, |_| {});
    assert!(matches!(verifier.verify(&token), Err(AuthError::Invalid(m)) if m.contains("unknown key id")));
    let impostor = SigningKey::generate("k1");
    assert!(matches!(verifier.verify(&signed_with(&impostor, |_| {})), Err(AuthError::Invalid(_))));
}

#[test]
fn expiry_and_not_before_are_enforced_with_leeway() {
    let (_, verifier, key) = setup();
    let expired = signed_with(&key, |c| c.expires_at = Some(UnixTimeStamp::from_secs(now() - LEEWAY_SECS - 5)));
    assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));
    let within = signed_with(&key, |c| c.expires_at = Some(UnixTimeStamp::from_secs(now() - 5)));
    assert!(verifier.verify(&within).is_ok(), "inside the leeway");
    let future = signed_with(&key, |c| c.invalid_before = Some(UnixTimeStamp::from_secs(now() + 600)));
    assert_eq!(verifier.verify(&future), Err(AuthError::NotYetValid));
}

#[test]
fn validity_follows_the_time_passed_in_not_the_wall_clock() {
    let (issuer, verifier, _) = setup();
    let issued = 1_700_000_000;
    let token = issuer.issue_at("u1", &session(0), vec![], issued).unwrap();
    let expiry = issued + ACCESS_TOKEN_TTL_SECS;
    assert!(verifier.verify_at(&token, issued).is_ok());
    assert!(verifier.verify_at(&token, expiry + LEEWAY_SECS).is_ok(), "inside the leeway after expiry");
    assert_eq!(verifier.verify_at(&token, expiry + LEEWAY_SECS + 1), Err(AuthError::Expired));
    assert!(verifier.verify_at(&token, issued - LEEWAY_SECS).is_ok(), "a clock slightly behind the issuer's");
    assert_eq!(verifier.verify_at(&token, issued - LEEWAY_SECS - 1), Err(AuthError::NotYetValid));
    assert_eq!(verifier.verify(&token), Err(AuthError::Expired), "the wall clock is long past 2023");
}

/// RFC 8037, appendix A: the Ed25519 key (A.1, A.2) in this crate's configuration form gives the
/// RFC's public key in the JWKS and, signing deterministically, the RFC's signature (A.4), which
/// the parsed public key verifies.
#[test]
fn rfc8037_ed25519_test_vector() {
    let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    let signature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let pair = [Base64UrlUnpadded::decode_vec(d).unwrap(), Base64UrlUnpadded::decode_vec(x).unwrap()].concat();
    let config = format!("rfc8037={}", Base64UrlUnpadded::encode_string(&pair));
    let (key, set) = KeySet::from_signing_config(&config).unwrap();
    assert_eq!(key.to_config(), config);
    assert_eq!(key.public_config(), format!("rfc8037={x}"));
    assert_eq!(set.jwks()["keys"][0]["x"], x);
    assert_eq!(set.jwks()["keys"][0]["crv"], "Ed25519");
    let signed = key.pair().sk.sign(input, None);
    assert_eq!(Base64UrlUnpadded::encode_string(signed.as_ref()), signature);
    let public = set.public("rfc8037").unwrap();
    assert!(public.verify(input, &signed).is_ok());
    assert!(public.verify("eyJhbGciOiJFZERTQSJ9.other", &signed).is_err());
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let (_, verifier, key) = setup();
    let iss = signed_with(&key, |c| c.issuer = Some("someone-else".into()));
    assert!(matches!(verifier.verify(&iss), Err(AuthError::Invalid(_))));
    let aud = signed_with(&key, |c| c.audiences = Some(jwt_simple::claims::Audiences::AsString("other-api".into())));
    assert!(matches!(verifier.verify(&aud), Err(AuthError::Invalid(_))));
    let listed = signed_with(&key, |c| {
        c.audiences = Some(jwt_simple::claims::Audiences::AsSet(HashSet::from(["other-api".into(), "video-edge-api".into()])))
    });
    assert!(verifier.verify(&listed).is_ok(), "an aud array naming this audience");
    let no_sub = signed_with(&key, |c| c.subject = None);
    assert!(matches!(verifier.verify(&no_sub), Err(AuthError::Invalid(_))));
}

#[test]
fn tampering_is_detected() {
    let (issuer, verifier, _) = setup();
    let token = issuer.issue("u1", &session(0), vec![]).unwrap();
    let (header, mut payload, signature) = parts(&token);
    payload["sub"] = "admin".into();
    let forged = format!("{}.{}.{signature}", b64(&header), b64(&payload));
    assert!(matches!(verifier.verify(&forged), Err(AuthError::Invalid(_))));
    let mut sig = signature.into_bytes();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{}.{}", token.rsplit_once('.').unwrap().0, String::from_utf8(sig).unwrap());
    assert!(matches!(verifier.verify(&flipped), Err(AuthError::Invalid(_))));
}

#[test]
fn malformed_and_oversized_tokens_are_refused() {
    let (_, verifier, _) = setup();
    let huge_header = format!(
        "{}.e30.AAAA",
        Base64UrlUnpadded::encode_string(format!("{{\"alg\":\"EdDSA\",\"kid\":\"{}\"}}", "k".repeat(3000)).as_bytes())
    );
    for bad in ["", "abc", "a.b.c", "!!!.###.$$$", "e30.e30.e30", "bm90IGpzb24.bm90IGpzb24.AAAA", &"x".repeat(5000), &huge_header] {
        assert!(matches!(verifier.verify(bad), Err(AuthError::Invalid(_))), "{}", &bad[..bad.len().min(40)]);
    }
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(Verifier::bearer(Some("Bearer abc")), Ok("abc"));
    assert_eq!(Verifier::bearer(Some("bearer  abc ")), Ok("abc"));
    for bad in [None, Some("Basic abc"), Some("Bearer"), Some("Bearer   ")] {
        assert_eq!(Verifier::bearer(bad), Err(AuthError::Missing), "{bad:?}");
    }
}

#[test]
fn revocation_by_session_marker_and_epoch() {
    let principal =
        Principal { user_id: "u1".into(), session_id: "s1".into(), epoch: 2, incarnation: "i1".into(), roles: vec![], expires_at: 0 };
    assert_eq!(revocation_keys(&principal), ["auth:epoch:u1".to_owned(), "auth:revoked:s1".to_owned(), "auth:incarnation".to_owned()]);
    let inc = Some(&b"i1"[..]);
    assert_eq!(check_revocation(&principal, None, None, inc), Ok(()));
    assert_eq!(check_revocation(&principal, Some(b"2"), None, inc), Ok(()));
    assert_eq!(check_revocation(&principal, Some(b"3"), None, inc), Err(AuthError::EpochRevoked));
    assert_eq!(check_revocation(&principal, Some(b"1"), Some(b"1"), inc), Err(AuthError::SessionRevoked));
}

/// A store that lost its data lost its revocations too: tokens issued before are refused.
#[test]
fn tokens_from_another_incarnation_fail_closed() {
    let principal = |inc: &str| Principal {
        user_id: "u1".into(),
        session_id: "s1".into(),
        epoch: 0,
        incarnation: inc.into(),
        roles: vec![],
        expires_at: 0,
    };
    assert_eq!(check_revocation(&principal("i1"), None, None, None), Err(AuthError::SessionLost));
    assert_eq!(check_revocation(&principal("i1"), None, None, Some(b"i2")), Err(AuthError::SessionLost));
    assert_eq!(check_revocation(&principal(""), None, None, Some(b"")), Err(AuthError::SessionLost), "tokens without one");
    assert_eq!(AuthError::SessionLost.code(), "session-lost");
}

#[test]
fn rotation_keeps_previous_keys_verifying_and_publishes_all() {
    let old = SigningKey::generate("2026-10");
    let new = SigningKey::generate("2026-11");
    let (old_active, _) = KeySet::from_signing_config(&old.to_config()).unwrap();
    let old_token = Issuer::new(old_active, audience()).issue("u1", &session(0), vec![]).unwrap();
    let config = format!("{}, {}", new.to_config(), old.to_config());
    let (active, set) = KeySet::from_signing_config(&config).unwrap();
    assert_eq!(active.kid(), "2026-11");
    let verifier = Verifier::new(set, audience());
    assert!(verifier.verify(&old_token).is_ok());
    let public = KeySet::from_public_config(&format!("{},{}", new.public_config(), old.public_config())).unwrap();
    let jwks = public.jwks();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(Verifier::new(public, audience()).verify(&old_token).is_ok());
}

#[test]
fn bad_key_configuration_is_explained() {
    for bad in ["", "nokid", "k1=!!!", "k1=AAAA", "bad id=AAAA"] {
        assert!(KeySet::from_signing_config(bad).is_err(), "{bad}");
    }
    let key = SigningKey::generate("k1");
    let twice = format!("{},{}", key.to_config(), key.to_config());
    assert!(KeySet::from_signing_config(&twice).unwrap_err().0.contains("twice"));
    assert!(KeySet::from_public_config(&key.to_config()).is_err(), "a key pair is not a public key");
}
