//! Password hashing with Argon2id.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane — OWASP's recommended minimum for Argon2id.
//! A sign-in is one hash per attempt inside a per-request wasm instance: more memory would
//! crowd the instance pool on a busy edge node, and more passes push sign-in latency past what
//! a user notices (see BENCHMARKS.md for the measured time). Hashes are PHC strings carrying
//! their parameters, so raising them later only affects new and changed passwords.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// Memory cost in KiB.
pub(crate) const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory.
pub(crate) const ITERATIONS: u32 = 2;
/// Lanes.
pub(crate) const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    // Constant, valid parameters; a failure here is a programming error caught by the tests.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new PHC hash of `password` with a random salt.
pub(crate) fn hash(password: &str) -> String {
    let salt = SaltString::encode_b64(&crate::accounts::random_bytes::<16>()).expect("16-byte salt encodes");
    argon2().hash_password(password.as_bytes(), &salt).expect("hashing with valid parameters").to_string()
}

/// Whether `password` matches the stored PHC hash. A malformed stored hash never matches.
pub(crate) fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Does the work of one [`verify`] and discards it, so a sign-in for an unknown user takes the
/// same time as one for a known user with a wrong password.
pub(crate) fn verify_nobody(password: &str) {
    let salt = SaltString::encode_b64(b"no-such-user-salt").expect("constant salt encodes");
    let _ = std::hint::black_box(argon2().hash_password(password.as_bytes(), &salt));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let stored = hash("correct horse");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horsf", &stored));
        assert_ne!(hash("correct horse"), stored, "salted");
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn unknown_users_cost_about_the_same_as_known_ones() {
        let stored = hash("pw-pw-pw-pw");
        let time = |f: &dyn Fn()| {
            let start = std::time::Instant::now();
            for _ in 0..3 {
                f();
            }
            start.elapsed().as_secs_f64()
        };
        let known = time(&|| assert!(!verify("wrong-wrong", &stored)));
        let unknown = time(&|| verify_nobody("wrong-wrong"));
        let ratio = known / unknown;
        assert!((0.33..3.0).contains(&ratio), "known {known:.3}s vs unknown {unknown:.3}s");
    }
}
