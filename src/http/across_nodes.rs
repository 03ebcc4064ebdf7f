//! REST in cluster mode (SPEC 8): this node's own sockets and what the other nodes say, merged
//! in connect order and paged over the union. Each node's list is already in its connect order;
//! the merge keeps each one's order and interleaves them by (`timestamp`, id).

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use switchyard_actors::account::AccountId;
use switchyard_actors::description::Description;
use switchyard_actors::supervisor::{PageRequest, QueryError};

use crate::bus::{Gathered, Reply};

/// One socket of the union, with what orders it.
#[derive(Debug)]
pub(super) struct Listed {
    order: SortKey,
    json: Box<RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct SortKey {
    timestamp: u64,
    websocket_session_id: String,
}

impl Listed {
    fn parse(json: Box<RawValue>) -> Option<Self> {
        let order = serde_json::from_str(json.get()).ok()?;
        Some(Self { order, json })
    }

    fn local(description: &Description) -> Option<Self> {
        Self::parse(RawValue::from_string(description.as_json().to_string()).ok()?)
    }

    pub(super) fn id(&self) -> &str {
        &self.order.websocket_session_id
    }
}

impl Serialize for Listed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// This node's list and every reply for `account`, as lists to merge. A reply about another
/// account, or one that is not a list of sockets, is left out.
pub(super) fn lists_of(
    account: &AccountId,
    local: &[Description],
    gathered: Gathered,
) -> Vec<Vec<Listed>> {
    let mut lists = vec![local.iter().filter_map(Listed::local).collect()];
    for reply in gathered.replies {
        if !is_about(&reply, account) {
            continue;
        }
        let Ok(sockets) = serde_json::from_str::<Vec<Box<RawValue>>>(reply.data.get()) else {
            continue;
        };
        lists.push(sockets.into_iter().filter_map(Listed::parse).collect());
    }
    lists
}

/// The first reply that holds one socket of `account`.
pub(super) fn socket_in(account: &AccountId, gathered: Gathered) -> Option<Box<RawValue>> {
    gathered
        .replies
        .into_iter()
        .filter(|reply| reply.account_id.as_deref() == Some(account.as_str()))
        .map(|reply| reply.data)
        .find(|data| data.get().trim_start().starts_with('{'))
}

/// A list reply names its account, or (a KAZOO node) was asked for this one.
fn is_about(reply: &Reply, account: &AccountId) -> bool {
    reply
        .account_id
        .as_deref()
        .is_none_or(|id| id == account.as_str())
}

/// Interleaves lists each in connect order: the smallest (timestamp, id) head goes first.
pub(super) fn merge(lists: Vec<Vec<Listed>>) -> Vec<Listed> {
    let total = lists.iter().map(Vec::len).sum();
    let mut heads: Vec<_> = lists
        .into_iter()
        .map(|list| list.into_iter().peekable())
        .collect();
    let mut merged = Vec::with_capacity(total);
    loop {
        let next = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(at, list)| list.peek().map(|head| (at, head.order.clone())))
            .min_by(|(_, a), (_, b)| a.cmp(b))
            .map(|(at, _)| at);
        let Some(at) = next else {
            return merged;
        };
        merged.extend(heads[at].next());
    }
}

/// One page of the union, and the first socket of the next.
pub(super) fn page(
    mut all: Vec<Listed>,
    request: &PageRequest,
) -> Result<(Vec<Listed>, Option<String>), QueryError> {
    let first = match &request.start_key {
        None => 0,
        Some(key) => all
            .iter()
            .position(|socket| socket.id() == key)
            .ok_or_else(|| QueryError::UnknownStartKey(key.clone()))?,
    };
    let mut page = all.split_off(first);
    let size = request.size.unwrap_or(usize::MAX).min(page.len());
    let rest = page.split_off(size);
    let next = rest.first().map(|socket| socket.id().to_string());
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(timestamp: u64, id: &str) -> Listed {
        let json =
            format!(r#"{{"bindings":[],"websocket_session_id":"{id}","timestamp":{timestamp}}}"#);
        Listed::parse(RawValue::from_string(json).unwrap()).unwrap()
    }

    fn ids(list: &[Listed]) -> Vec<&str> {
        list.iter().map(Listed::id).collect()
    }

    #[test]
    fn merged_by_time_then_id_keeping_each_nodes_order() {
        // Node one connected z before a within the same second: that order stays.
        let one = vec![socket(10, "z"), socket(10, "a"), socket(12, "c")];
        let two = vec![socket(10, "m"), socket(11, "b")];
        let merged = merge(vec![one, two, vec![]]);
        assert_eq!(ids(&merged), ["m", "z", "a", "b", "c"]);
    }

    #[test]
    fn pages_over_the_union() {
        let all = || {
            merge(vec![
                vec![socket(1, "a"), socket(3, "c")],
                vec![socket(2, "b")],
            ])
        };
        let first = PageRequest {
            size: Some(2),
            start_key: None,
        };
        let (page, next) = page(all(), &first).unwrap();
        assert_eq!(ids(&page), ["a", "b"]);
        assert_eq!(next.as_deref(), Some("c"));
        let second = PageRequest {
            size: Some(2),
            start_key: next,
        };
        let (page, next) = super::page(all(), &second).unwrap();
        assert_eq!(ids(&page), ["c"]);
        assert_eq!(next, None);
        let unknown = PageRequest {
            size: None,
            start_key: Some("x".into()),
        };
        assert!(super::page(all(), &unknown).is_err());
    }
}
