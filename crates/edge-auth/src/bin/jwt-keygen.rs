//! Prints a new Ed25519 signing key as the two Spin variables that carry it:
//! `SPIN_VARIABLE_JWT_SIGNING_KEYS` (secret, for auth) and `SPIN_VARIABLE_JWT_PUBLIC_KEYS`
//! (for every verifier). Usage: `jwt-keygen [KID]` (default: `key-<unix seconds>`).

fn main() {
    let kid = std::env::args().nth(1).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("key-{now}")
    });
    let key = edge_auth::SigningKey::generate(&kid);
    println!("SPIN_VARIABLE_JWT_SIGNING_KEYS={}", key.to_config());
    println!("SPIN_VARIABLE_JWT_PUBLIC_KEYS={}", key.public_config());
}
