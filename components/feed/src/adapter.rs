//! The Spin side of [`crate::rebuild`]: the rebuild scripts and the key-value store.

use edge_http::Problem;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text};

use crate::rebuild::{self, Restore};
use crate::{store, Feed};

impl rebuild::Ports for Feed {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn token(&self) -> String {
        edge_http::random_id()
    }

    fn pause(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    fn start(&self, token: &str) -> Result<rebuild::Start, Problem> {
        let keys = [store::BUILT, rebuild::LOCK, rebuild::LISTED, store::LAST_ID];
        let reply = self.redis()?.run(&rebuild::START, &keys, vec![arg(token), arg(rebuild::LEASE_MS)])?;
        Ok(match reply.first().and_then(text).as_deref() {
            Some("built") => rebuild::Start::Built,
            Some("list") => rebuild::Start::List,
            Some("listed") => rebuild::Start::Listed,
            _ => rebuild::Start::Busy,
        })
    }

    fn stored_keys(&self) -> Result<Vec<String>, Problem> {
        self.kv()?.get_keys().map_err(kv_unavailable)
    }

    fn list(&self, token: &str, ids: &[u64], last: bool) -> Result<bool, Problem> {
        let mut args = vec![arg(token), arg(rebuild::LEASE_MS), arg(if last { "1" } else { "0" })];
        args.extend(ids.iter().map(|&id| arg(id)));
        let reply = self.redis()?.run(&rebuild::LIST, &[rebuild::LOCK, rebuild::PENDING, rebuild::LISTED], args)?;
        Ok(reply.first().and_then(int) == Some(1))
    }

    fn restore(&self, token: &str, release: bool, batch: &[Restore], ids: &[u64]) -> Result<rebuild::Step, Problem> {
        let (keys, args) = rebuild::restore_call(token, release, batch, ids);
        let reply = self.redis()?.run(&rebuild::RESTORE, &keys, args)?;
        Ok(match reply.first().and_then(text).as_deref() {
            Some("built") => rebuild::Step::Built,
            Some("more") => rebuild::Step::More(reply.iter().skip(1).filter_map(|r| text(r)?.parse().ok()).collect()),
            _ => rebuild::Step::Lost,
        })
    }

    fn stored(&self, id: u64) -> Result<Option<Vec<u8>>, Problem> {
        self.kv()?.get(&store::video_key(id)).map_err(kv_unavailable)
    }

    fn is_built(&self) -> Result<bool, Problem> {
        Ok(self.redis()?.exec("EXISTS", &[arg(store::BUILT)])?.first().and_then(int) == Some(1))
    }
}
