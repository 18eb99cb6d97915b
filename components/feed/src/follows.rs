//! Follows: who may follow whom. One user follows at most [`MAX_FOLLOWS`] others, never
//! themselves, and only users that exist; following again or unfollowing someone not followed
//! changes nothing and succeeds. Pure over [`Ports`]; the following feed reads the set
//! (`scripts/following.lua`).

use edge_http::Problem;

/// Most users one user may follow.
pub(crate) const MAX_FOLLOWS: u64 = 2000;

/// What following needs from outside.
pub(crate) trait Ports {
    /// Whether user `id` has an account.
    fn user_exists(&self, id: &str) -> Result<bool, Problem>;
    /// In one step: adds `target` to `user`'s follows unless they hold `most` others already;
    /// false when full (a target already followed is never refused).
    fn add_follow(&self, user: &str, target: &str, most: u64) -> Result<bool, Problem>;
    /// Takes `target` off `user`'s follows.
    fn remove_follow(&self, user: &str, target: &str) -> Result<(), Problem>;
}

/// `user` follows `target`.
pub(crate) fn follow(ports: &impl Ports, user: &str, target: &str) -> Result<(), Problem> {
    refuse_self(user, target)?;
    if !ports.user_exists(target)? {
        return Err(Problem::not_found("no-such-user", "there is no user with this id"));
    }
    if !ports.add_follow(user, target, MAX_FOLLOWS)? {
        return Err(
            Problem::bad_request("too-many-follows", format!("you can follow at most {MAX_FOLLOWS} users")).with("limit", MAX_FOLLOWS)
        );
    }
    Ok(())
}

/// `user` stops following `target`.
pub(crate) fn unfollow(ports: &impl Ports, user: &str, target: &str) -> Result<(), Problem> {
    refuse_self(user, target)?;
    ports.remove_follow(user, target)
}

fn refuse_self(user: &str, target: &str) -> Result<(), Problem> {
    if user == target {
        return Err(Problem::bad_request("cannot-follow-self", "you cannot follow yourself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;

    /// Accounts `u0`..`u2999`, and `ann`'s follows.
    #[derive(Default)]
    struct Memory {
        follows: RefCell<BTreeSet<String>>,
        lookups: RefCell<u32>,
    }

    impl Ports for Memory {
        fn user_exists(&self, id: &str) -> Result<bool, Problem> {
            *self.lookups.borrow_mut() += 1;
            Ok(id.strip_prefix('u').and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n < 3000))
        }

        fn add_follow(&self, _: &str, target: &str, most: u64) -> Result<bool, Problem> {
            let mut follows = self.follows.borrow_mut();
            if follows.len() as u64 >= most && !follows.contains(target) {
                return Ok(false);
            }
            follows.insert(target.to_owned());
            Ok(true)
        }

        fn remove_follow(&self, _: &str, target: &str) -> Result<(), Problem> {
            self.follows.borrow_mut().remove(target);
            Ok(())
        }
    }

    #[test]
    fn one_follows_existing_users_other_than_oneself_and_again_changes_nothing() {
        let m = Memory::default();
        assert_eq!(follow(&m, "ann", "ann").unwrap_err().code(), "cannot-follow-self");
        assert_eq!(unfollow(&m, "ann", "ann").unwrap_err().code(), "cannot-follow-self");
        assert_eq!(*m.lookups.borrow(), 0, "refused before any lookup");
        assert_eq!(follow(&m, "ann", "ghost").unwrap_err().code(), "no-such-user");
        follow(&m, "ann", "u1").unwrap();
        follow(&m, "ann", "u1").unwrap();
        assert_eq!(m.follows.borrow().len(), 1);
        unfollow(&m, "ann", "u1").unwrap();
        unfollow(&m, "ann", "u1").unwrap();
        assert!(m.follows.borrow().is_empty());
    }

    #[test]
    fn a_full_follow_set_refuses_new_authors_but_not_those_already_followed() {
        let m = Memory::default();
        (0..MAX_FOLLOWS).for_each(|n| follow(&m, "ann", &format!("u{n}")).unwrap());
        let full = follow(&m, "ann", "u2500").unwrap_err();
        assert_eq!((full.code(), full.extension("limit").cloned()), ("too-many-follows", Some(MAX_FOLLOWS.into())));
        follow(&m, "ann", "u7").unwrap();
        unfollow(&m, "ann", "u7").unwrap();
        follow(&m, "ann", "u2500").unwrap();
    }
}
