//! `/users/:id/follow`: follow and unfollow an author (what `/feed/following` reads). Who may
//! follow whom is [`crate::follows`].

use edge_http::handler::{Answer, Path};
use edge_http::no_content;
use edge_spin::auth::Caller;
use edge_spin::limit::PerClient;

use crate::follows;
use crate::limits::Follows;
use crate::Feed;

/// `PUT /users/:id/follow`: idempotent; the author must exist.
pub(crate) async fn follow(feed: &Feed, _: PerClient<Follows>, Caller(caller): Caller, Path(target): Path<String>) -> Answer {
    follows::follow(feed, &caller.user_id, &target)?;
    Ok(no_content())
}

/// `DELETE /users/:id/follow`: idempotent.
pub(crate) async fn unfollow(feed: &Feed, _: PerClient<Follows>, Caller(caller): Caller, Path(target): Path<String>) -> Answer {
    follows::unfollow(feed, &caller.user_id, &target)?;
    Ok(no_content())
}
