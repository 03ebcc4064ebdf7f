//! Queries this node has asked the others and is waiting on, by `Msg-ID`: the replies so far,
//! and who has not answered yet. The asker waits until every node it knew alive has answered,
//! or the deadline; whoever is missing then makes the answer partial.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::messages::Reply;
use super::peers::ServerId;

/// How long an asker waits for the other nodes: REST answers within 2 s (issue 9), with room
/// left for the local part and the response.
pub(crate) const QUERY_DEADLINE: Duration = Duration::from_millis(1500);

/// What the other nodes said.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub replies: Vec<Reply>,
    /// Some node known alive did not answer in time, or the bus is down.
    pub partial: bool,
}

#[derive(Default)]
pub(crate) struct Pending {
    waiting: Mutex<HashMap<String, Waiting>>,
}

struct Waiting {
    missing: HashSet<ServerId>,
    replies: Vec<Reply>,
    all_in: Option<oneshot::Sender<()>>,
}

impl Pending {
    /// Starts waiting for `from`; the receiver fires once all of them have answered.
    pub(crate) fn expect(&self, msg_id: &str, from: Vec<ServerId>) -> oneshot::Receiver<()> {
        let (all_in, receiver) = oneshot::channel();
        self.waiting.lock().insert(
            msg_id.to_string(),
            Waiting {
                missing: from.into_iter().collect(),
                replies: Vec::new(),
                all_in: Some(all_in),
            },
        );
        receiver
    }

    /// A reply arrived; one for no query under way (late, or not ours) is dropped.
    pub(crate) fn answered(&self, reply: Reply) {
        let mut waiting = self.waiting.lock();
        let Some(query) = waiting.get_mut(&reply.msg_id) else {
            return;
        };
        query.missing.remove(&reply.server_id);
        query.replies.push(reply);
        if query.missing.is_empty()
            && let Some(all_in) = query.all_in.take()
        {
            let _ = all_in.send(());
        }
    }

    /// Stops waiting and answers what came.
    pub(crate) fn finish(&self, msg_id: &str) -> Gathered {
        match self.waiting.lock().remove(msg_id) {
            Some(query) => Gathered {
                partial: !query.missing.is_empty(),
                replies: query.replies,
            },
            None => Gathered {
                replies: Vec::new(),
                partial: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::messages::{CATEGORY, GET_RESP};
    use serde_json::value::RawValue;

    fn reply(msg_id: &str, server_id: &str) -> Reply {
        Reply {
            data: RawValue::from_string("[]".into()).unwrap(),
            msg_id: msg_id.into(),
            event_category: CATEGORY.into(),
            event_name: GET_RESP.into(),
            app_name: String::new(),
            app_version: String::new(),
            server_id: server_id.into(),
            node: String::new(),
            account_id: None,
        }
    }

    #[test]
    fn complete_once_every_expected_node_answers() {
        let pending = Pending::default();
        let mut all_in = pending.expect("m", vec!["a".into(), "b".into()]);
        pending.answered(reply("m", "a"));
        pending.answered(reply("other", "b"));
        assert!(all_in.try_recv().is_err());
        pending.answered(reply("m", "b"));
        assert!(all_in.try_recv().is_ok());
        let gathered = pending.finish("m");
        assert!(!gathered.partial);
        assert_eq!(gathered.replies.len(), 2);
    }

    #[test]
    fn partial_when_someone_is_missing() {
        let pending = Pending::default();
        let _all_in = pending.expect("m", vec!["a".into(), "b".into()]);
        pending.answered(reply("m", "a"));
        assert!(pending.finish("m").partial);
        pending.answered(reply("m", "b"));
        assert!(pending.finish("m").partial, "finished queries are gone");
    }
}
