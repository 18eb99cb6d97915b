//! `/users/:id/follow`: follow and unfollow an author (what `/feed/following` reads).

use edge_http::handler::{Answer, Path};
use edge_http::{no_content, Problem};
use edge_spin::auth::Caller;
use edge_spin::kv_unavailable;
use edge_spin::limit::PerClient;
use edge_spin::redis::{arg, int, now_ms};

use crate::limits::Follows;
use crate::{keys, store, Feed};

/// Most users one user may follow.
const MAX_FOLLOWS: u64 = 2000;

/// `PUT /users/:id/follow`: idempotent; the author must exist.
pub(crate) async fn follow(feed: &Feed, _: PerClient<Follows>, Caller(caller): Caller, Path(target): Path<String>) -> Answer {
    let user = caller.user_id;
    refuse_self(&user, &target)?;
    if !feed.kv()?.exists(&edge_protocol::keys::user_key(&target)).map_err(kv_unavailable)? {
        return Err(Problem::not_found("no-such-user", "there is no user with this id"));
    }
    let key = keys::follows(&user);
    let followed = feed.redis()?.run(&store::FOLLOW, &[&key], vec![arg(&target), arg(now_ms()), arg(MAX_FOLLOWS)])?;
    if followed.first().and_then(int) != Some(1) {
        return Err(
            Problem::bad_request("too-many-follows", format!("you can follow at most {MAX_FOLLOWS} users")).with("limit", MAX_FOLLOWS)
        );
    }
    Ok(no_content())
}

/// `DELETE /users/:id/follow`: idempotent.
pub(crate) async fn unfollow(feed: &Feed, _: PerClient<Follows>, Caller(caller): Caller, Path(target): Path<String>) -> Answer {
    refuse_self(&caller.user_id, &target)?;
    feed.redis()?.exec("ZREM", &[arg(keys::follows(&caller.user_id)), arg(target)])?;
    Ok(no_content())
}

fn refuse_self(user: &str, target: &str) -> Result<(), Problem> {
    if user == target {
        return Err(Problem::bad_request("cannot-follow-self", "you cannot follow yourself"));
    }
    Ok(())
}
