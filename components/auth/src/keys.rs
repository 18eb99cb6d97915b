//! Every key auth reads or writes, one function per family (the verifier's own keys, shared
//! with every component, are `edge_auth::epoch_key`, `revoked_session_key` and
//! `INCARNATION_KEY`). Accounts live in the key-value store; sessions and limits in Redis.

/// Key-value store: the user id a normalised username belongs to.
pub(crate) fn username(username: &str) -> String {
    format!("username:{username}")
}

/// Redis string: a registration's one-minute claim on `username`, so concurrent ones agree.
pub(crate) fn name_claim(username: &str) -> String {
    format!("auth:claim:{username}")
}

/// Redis hash: session `sid` (its refresh secret, owner, generation).
pub fn session(sid: &str) -> String {
    format!("auth:session:{sid}")
}

/// Redis set: `user_id`'s live session ids.
pub fn user_sessions(user_id: &str) -> String {
    format!("auth:sessions:{user_id}")
}

/// Redis sliding window: failed sign-ins to `username` from its known browser `device`.
pub(crate) fn failures_on_device(username: &str, device: &str) -> String {
    format!("auth:fail:device:{username}:{device}")
}

/// Redis sliding window: failed sign-ins to `username` from unknown devices (and wrong current
/// passwords when changing it).
pub(crate) fn failures_from_unknown_devices(username: &str) -> String {
    format!("auth:fail:user:{username}")
}

/// Redis sliding window: failed sign-ins from client address `client`.
pub(crate) fn failures_from_address(client: &str) -> String {
    format!("auth:fail:client:{client}")
}

/// Redis counter: failed sign-ins to `username` from unknown devices, forgotten a day after the
/// last one (it grows their window).
pub(crate) fn failures_today(username: &str) -> String {
    format!("auth:fail:day:{username}")
}

/// Redis sorted set: the browsers (`device_id` cookies) that signed in as `username`, scored by
/// their last sign-in.
pub(crate) fn known_devices(username: &str) -> String {
    format!("auth:devices:{username}")
}

/// Redis sliding window: session `sid`'s refreshes in the last minute.
pub(crate) fn refresh_rate(sid: &str) -> String {
    format!("auth:refresh-rate:{sid}")
}

/// Redis sliding window prefix: sign-ups from one client address (`<prefix>:<client>`).
pub(crate) const SIGN_UPS_PER_CLIENT: &str = "limit:sign-ups";
