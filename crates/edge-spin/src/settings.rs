//! The settings every component shares (each component's spin.toml holds their defaults), and
//! [`Variables`], the [`Source`] that reads them from Spin. A component's own settings are
//! constants in its `settings.rs`, read the same way: `edge_spin::setting(&settings::NAME)`.

use edge_http::setting::{Number, Setting, Source, Text};
use edge_http::Problem;

/// The Redis server (`redis://host:port`).
pub const REDIS_ADDRESS: Text = Text::new("redis_address");
/// The issuer every access token must name.
pub const JWT_ISSUER: Text = Text::new("jwt_issuer");
/// The audience every access token must name.
pub const JWT_AUDIENCE: Text = Text::new("jwt_audience");
/// The public keys access tokens are verified with (see `edge_auth::KeySet`).
pub const JWT_PUBLIC_KEYS: Text = Text::new("jwt_public_keys");
/// The secret `x-operator-token` must carry for detailed health answers; empty matches nothing.
pub const OPERATOR_TOKEN: Text = Text::new("operator_token");
/// How many proxies in front of Spin append to `X-Forwarded-For`; unset or unreadable trusts
/// none, so a forged header changes nothing.
pub const TRUSTED_PROXY_HOPS: Number = Number::new("trusted_proxy_hops", 0, 16);
/// The browser origins allowed to call the API (see [`edge_http::Cors::parse`]).
pub const CORS_ORIGINS: Text = Text::new("cors_origins");

/// Spin's component variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variables;

impl Source for Variables {
    fn raw(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}

/// The value of `setting` from Spin's variables, or the 500 naming the variable to set.
pub fn setting<S: Setting>(setting: &S) -> Result<S::Value, Problem> {
    Variables.get(setting)
}
