//! An AMQP topic-exchange pattern index: a trie over dot-separated words, as RabbitMQ's topic
//! exchange and NATS's sublist do, so a match costs the key's length and the patterns it meets,
//! not the number of patterns held.
//!
//! Words follow RabbitMQ: the empty string has no words, and every `.` separates two words that
//! may be empty (`a..b` is `a`, ``, `b`). Only a word that is exactly `*` or `#` is a wildcard.
//!
//! Literal words are numbered once ([`words`]): a match looks each of the key's words up there
//! at most once, and every node then finds its child by number, never comparing strings.

mod small_vec;
mod words;

use std::collections::HashMap;

use slab::Slab;

use small_vec::SmallVec;
use words::{WordId, Words};

type NodeId = u32;
const NONE: NodeId = NodeId::MAX;
const ROOT: NodeId = 0;

/// Past this many literal children a node switches from a scanned vec to a map.
const SMALL_MAX: usize = 8;
/// A map shrinking to this many goes back to a vec (lower than `SMALL_MAX`, so no flapping).
const SMALL_BACK: usize = 4;

/// Literal children by word number. Most nodes have one or two, so a scan of 8-byte pairs beats
/// a map; the map is boxed to keep the common case at 24 bytes. Word numbers are ours, not
/// clients', so a fixed fast hash is safe for the map.
enum Children {
    Small(Vec<(WordId, NodeId)>),
    #[allow(
        clippy::box_collection,
        reason = "keeps every node's Children at 24 bytes"
    )]
    Map(Box<HashMap<WordId, NodeId, foldhash::fast::FixedState>>),
}

impl Children {
    fn get(&self, word: WordId) -> Option<NodeId> {
        match self {
            Children::Small(v) => v.iter().find(|&&(w, _)| w == word).map(|&(_, c)| c),
            Children::Map(m) => m.get(&word).copied(),
        }
    }

    fn insert(&mut self, word: WordId, child: NodeId) {
        match self {
            Children::Small(v) if v.len() < SMALL_MAX => v.push((word, child)),
            Children::Small(v) => {
                let mut m: HashMap<_, _, _> = v.drain(..).collect();
                m.insert(word, child);
                *self = Children::Map(Box::new(m));
            }
            Children::Map(m) => {
                m.insert(word, child);
            }
        }
    }

    fn remove(&mut self, word: WordId) {
        match self {
            Children::Small(v) => {
                if let Some(at) = v.iter().position(|&(w, _)| w == word) {
                    v.swap_remove(at);
                    if v.is_empty() {
                        // Give the allocation back: this node may live on with ids only.
                        *v = Vec::new();
                    }
                }
            }
            Children::Map(m) => {
                m.remove(&word);
                if m.len() <= SMALL_BACK {
                    *self = Children::Small(m.drain().collect());
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Small(v) => v.is_empty(),
            Children::Map(m) => m.is_empty(),
        }
    }
}

struct Node {
    literal: Children,
    star: NodeId,
    hash: NodeId,
    /// Sorted, so insert is idempotent by binary search and matches can be merged without
    /// allocating.
    ids: Vec<usize>,
}

impl Node {
    fn new() -> Self {
        Node {
            literal: Children::Small(Vec::new()),
            star: NONE,
            hash: NONE,
            ids: Vec::new(),
        }
    }

    fn is_leaf(&self) -> bool {
        self.literal.is_empty() && self.star == NONE && self.hash == NONE
    }

    fn is_unused(&self) -> bool {
        self.ids.is_empty() && self.is_leaf()
    }
}

fn words(pattern: &str) -> impl Iterator<Item = &str> {
    // RabbitMQ: the empty string is no words at all, not one empty word.
    (!pattern.is_empty())
        .then(|| pattern.split('.'))
        .into_iter()
        .flatten()
}

/// Patterns are dot-separated words; a pattern word `*` matches exactly one word, `#` zero or more.
/// Each pattern carries any number of `usize` ids.
pub struct TopicTrie {
    nodes: Slab<Node>,
    /// The literal words of the nodes' edges.
    words: Words,
    /// (pattern, id) pairs held.
    len: usize,
    /// Patterns holding at least one id.
    patterns: usize,
}

impl Default for TopicTrie {
    fn default() -> Self {
        let mut nodes = Slab::with_capacity(1);
        let root = nodes.insert(Node::new());
        debug_assert_eq!(root, ROOT as usize);
        TopicTrie {
            nodes,
            words: Words::default(),
            len: 0,
            patterns: 0,
        }
    }
}

impl TopicTrie {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, pattern: &str, id: usize) {
        let mut at = ROOT;
        for word in words(pattern) {
            at = match self.child(at, word) {
                Some(c) => c,
                None => self.add_child(at, word),
            };
        }
        let ids = &mut self.nodes[at as usize].ids;
        if let Err(pos) = ids.binary_search(&id) {
            if ids.is_empty() {
                self.patterns += 1;
            }
            ids.insert(pos, id);
            self.len += 1;
        }
    }

    /// Removes one id from a pattern; true when it was there.
    pub fn remove(&mut self, pattern: &str, id: usize) -> bool {
        let mut path: Vec<(NodeId, &str)> = Vec::new();
        let mut at = ROOT;
        for word in words(pattern) {
            match self.child(at, word) {
                Some(c) => {
                    path.push((at, word));
                    at = c;
                }
                None => return false,
            }
        }
        let ids = &mut self.nodes[at as usize].ids;
        let Ok(pos) = ids.binary_search(&id) else {
            return false;
        };
        ids.remove(pos);
        self.len -= 1;
        if ids.is_empty() {
            *ids = Vec::new();
            self.patterns -= 1;
        }
        // Prune the now-unused tail of the path so memory follows the patterns held.
        while let Some((parent, word)) = path.pop() {
            if !self.nodes[at as usize].is_unused() {
                break;
            }
            self.nodes.remove(at as usize);
            self.remove_child(parent, word);
            at = parent;
        }
        if self.len == 0 {
            // The slab keeps its slots; an empty trie gives them all back.
            *self = Self::default();
        }
        true
    }

    /// Calls `f` once for each id whose pattern matches `key`.
    pub fn for_each_match(&self, key: &str, mut f: impl FnMut(usize)) {
        if self.len == 0 {
            return;
        }
        let mut walk = Walk::new(key);
        self.walk(ROOT, 0, &mut walk);
        self.emit(&walk.hits, &mut f);
    }

    /// True when some pattern matches `key`.
    pub fn matches(&self, key: &str) -> bool {
        let mut any = false;
        self.for_each_match(key, |_| any = true);
        any
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (pattern, id) pairs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Distinct patterns holding at least one id.
    pub fn pattern_count(&self) -> usize {
        self.patterns
    }

    /// Trie nodes alive, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The child of `at` along one pattern word.
    fn child(&self, at: NodeId, word: &str) -> Option<NodeId> {
        let node = &self.nodes[at as usize];
        let c = match word {
            "*" => node.star,
            "#" => node.hash,
            _ => return node.literal.get(self.words.id(word)?),
        };
        (c != NONE).then_some(c)
    }

    fn add_child(&mut self, parent: NodeId, word: &str) -> NodeId {
        let c = self.nodes.insert(Node::new());
        let c = NodeId::try_from(c).expect("topic trie node count fits in u32");
        let node = &mut self.nodes[parent as usize];
        match word {
            "*" => node.star = c,
            "#" => node.hash = c,
            _ => node.literal.insert(self.words.acquire(word), c),
        }
        c
    }

    fn remove_child(&mut self, parent: NodeId, word: &str) {
        let node = &mut self.nodes[parent as usize];
        match word {
            "*" => node.star = NONE,
            "#" => node.hash = NONE,
            _ => {
                let number = self.words.id(word).expect("an edge's word is numbered");
                node.literal.remove(number);
                self.words.release(word);
            }
        }
    }

    /// Visits state (node, pos): `pos` is the index of the key's next word, or the key's word
    /// count when none remain.
    fn walk(&self, at: NodeId, pos: usize, walk: &mut Walk<'_>) {
        let node = &self.nodes[at as usize];
        if pos == walk.end {
            if !node.ids.is_empty() {
                walk.hits.push(at);
            }
        } else {
            if !node.literal.is_empty()
                && let Some(word) = walk.word(pos, &self.words)
                && let Some(c) = node.literal.get(word)
            {
                self.walk(c, pos + 1, walk);
            }
            if node.star != NONE {
                self.walk(node.star, pos + 1, walk);
            }
        }
        if node.hash != NONE {
            self.expand_hash(node.hash, pos, walk);
        }
    }

    /// `#` consumes zero or more words: visit its node at every position from `from` on.
    ///
    /// Several paths can reach one `#` node (`#.#`, `#.*.#`), and without care the work grows as
    /// key length to the power of the `#` count. A `#` node has one parent, so the positions it
    /// has been visited at are always a suffix of the key: remembering the smallest start is
    /// enough to visit each (node, position) once, which also makes every hit unique.
    fn expand_hash(&self, at: NodeId, from: usize, walk: &mut Walk<'_>) {
        let node = &self.nodes[at as usize];
        if node.is_leaf() {
            // A trailing `#`: only the end of the key can hit, and only once.
            if !walk.hash_from.iter().any(|&(n, _)| n == at) {
                walk.hash_from.push((at, from));
                if !node.ids.is_empty() {
                    walk.hits.push(at);
                }
            }
            return;
        }
        let seen = walk.hash_from.iter_mut().find(|(n, _)| *n == at);
        let stop = match seen {
            Some((_, seen)) if *seen <= from => return,
            Some((_, seen)) => std::mem::replace(seen, from),
            None => {
                walk.hash_from.push((at, from));
                walk.end + 1
            }
        };
        for pos in from..stop {
            self.walk(at, pos, walk);
        }
    }

    fn emit(&self, hits: &SmallVec<NodeId>, f: &mut impl FnMut(usize)) {
        match hits.len() {
            0 => {}
            1 => hits
                .iter()
                .for_each(|&hit| self.nodes[hit as usize].ids.iter().for_each(|&id| f(id))),
            n if n <= MERGE_MAX => {
                // Each node's ids are sorted: a k-way merge drops ids held by several matching
                // patterns without allocating.
                let mut lists: [&[usize]; MERGE_MAX] = [&[]; MERGE_MAX];
                for (slot, &hit) in lists.iter_mut().zip(hits.iter()) {
                    *slot = &self.nodes[hit as usize].ids;
                }
                let lists = &mut lists[..n];
                while let Some(min) = lists.iter().filter_map(|l| l.first()).min().copied() {
                    f(min);
                    for l in lists.iter_mut() {
                        if l.first() == Some(&min) {
                            *l = &l[1..];
                        }
                    }
                }
            }
            _ => {
                let mut all: Vec<usize> = hits
                    .iter()
                    .flat_map(|&hit| self.nodes[hit as usize].ids.iter().copied())
                    .collect();
                all.sort_unstable();
                all.dedup();
                all.into_iter().for_each(f);
            }
        }
    }
}

/// Matching patterns merged on the stack; more than this and `emit` sorts a vec.
const MERGE_MAX: usize = 8;

/// One match in progress.
struct Walk<'k> {
    key: &'k str,
    words: SmallVec<KeyWord>,
    /// The key's word count: the position where no words remain.
    end: usize,
    /// For each `#` node visited: the smallest position it has been expanded from.
    hash_from: SmallVec<(NodeId, usize)>,
    /// Nodes whose ids match, each once.
    hits: SmallVec<NodeId>,
}

/// One word of the key: where it lies, and its number once looked up.
#[derive(Clone, Copy, Default)]
struct KeyWord {
    start: usize,
    end: usize,
    number: Lookup,
}

#[derive(Clone, Copy, Default)]
enum Lookup {
    #[default]
    NotYet,
    /// No pattern has this word: only wildcards can take it.
    Unknown,
    Known(WordId),
}

impl<'k> Walk<'k> {
    fn new(key: &'k str) -> Self {
        let mut words = SmallVec::new();
        // RabbitMQ: the empty key is no words at all, not one empty word.
        if !key.is_empty() {
            let mut start = 0;
            for dot in memchr::memchr_iter(b'.', key.as_bytes()) {
                words.push(KeyWord::between(start, dot));
                start = dot + 1;
            }
            words.push(KeyWord::between(start, key.len()));
        }
        Walk {
            key,
            end: words.len(),
            words,
            hash_from: SmallVec::new(),
            hits: SmallVec::new(),
        }
    }

    /// The number of the key's word at `pos` (< end), looked up once per match.
    fn word(&mut self, pos: usize, numbers: &Words) -> Option<WordId> {
        let word = self.words.get_mut(pos);
        if let Lookup::NotYet = word.number {
            let text = &self.key[word.start..word.end];
            word.number = match numbers.id(text) {
                Some(number) => Lookup::Known(number),
                None => Lookup::Unknown,
            };
        }
        match word.number {
            Lookup::Known(number) => Some(number),
            _ => None,
        }
    }
}

impl KeyWord {
    fn between(start: usize, end: usize) -> Self {
        KeyWord {
            start,
            end,
            number: Lookup::NotYet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(trie: &TopicTrie, key: &str) -> Vec<usize> {
        let mut out = Vec::new();
        trie.for_each_match(key, |id| out.push(id));
        let n = out.len();
        out.sort_unstable();
        out.dedup();
        assert_eq!(n, out.len(), "an id reported twice for {key:?}");
        out
    }

    fn one(pattern: &str) -> TopicTrie {
        let mut t = TopicTrie::new();
        t.insert(pattern, 1);
        t
    }

    fn hit(pattern: &str, key: &str) -> bool {
        let t = one(pattern);
        let m = matches(&t, key);
        assert!(m.len() <= 1);
        assert_eq!(
            naive(pattern, key),
            !m.is_empty(),
            "naive disagrees: {pattern:?} {key:?}"
        );
        !m.is_empty()
    }

    /// The reference: a plain recursive reading of the AMQP rules.
    fn naive(pattern: &str, key: &str) -> bool {
        fn split(s: &str) -> Vec<&str> {
            if s.is_empty() {
                vec![]
            } else {
                s.split('.').collect()
            }
        }
        fn go(p: &[&str], k: &[&str]) -> bool {
            match p.split_first() {
                None => k.is_empty(),
                Some((&"#", rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
                Some((&"*", rest)) => !k.is_empty() && go(rest, &k[1..]),
                Some((w, rest)) => k.first() == Some(w) && go(rest, &k[1..]),
            }
        }
        go(&split(pattern), &split(key))
    }

    #[test]
    fn literals() {
        assert!(hit("a.b.c", "a.b.c"));
        assert!(!hit("a.b.c", "a.b"));
        assert!(!hit("a.b", "a.b.c"));
        assert!(!hit("a.b.c", "a.x.c"));
        assert!(!hit("a", "A"));
        assert!(hit(
            "call.0123.CHANNEL_CREATE.x%40y",
            "call.0123.CHANNEL_CREATE.x%40y"
        ));
    }

    #[test]
    fn star_is_one_word() {
        assert!(hit("*", "a"));
        assert!(!hit("*", ""));
        assert!(!hit("*", "a.b"));
        assert!(hit("a.*", "a.b"));
        assert!(!hit("a.*", "a"));
        assert!(!hit("a.*", "a.b.c"));
        assert!(hit("*.b", "a.b"));
        assert!(hit("a.*.c", "a.b.c"));
        assert!(!hit("a.*.c", "a.c"));
        assert!(hit("*.*", "a.b"));
        assert!(!hit("*.*", "a"));
        assert!(hit("*.*.*.*", "call.a.CHANNEL_CREATE.id"));
    }

    #[test]
    fn hash_is_zero_or_more_words() {
        assert!(hit("#", ""));
        assert!(hit("#", "a"));
        assert!(hit("#", "a.b.c"));
        assert!(hit("#", "."));
        assert!(hit("a.#", "a"));
        assert!(hit("a.#", "a.b"));
        assert!(hit("a.#", "a.b.c"));
        assert!(!hit("a.#", "b"));
        assert!(!hit("a.#", ""));
        assert!(hit("#.b", "b"));
        assert!(hit("#.b", "x.b"));
        assert!(hit("#.b", "x.y.b"));
        assert!(!hit("#.b", "b.x"));
        assert!(hit("a.#.b", "a.b"));
        assert!(hit("a.#.b", "a.x.y.b"));
        assert!(!hit("a.#.b", "a.x.y"));
        assert!(hit("a.#.#.b", "a.b"));
        assert!(hit("a.#.#.b", "a.x.b"));
        assert!(hit("a.#.#.b", "a.x.y.z.b"));
        assert!(hit("#.#", ""));
        assert!(hit("#.#", "a.b.c"));
    }

    #[test]
    fn star_and_hash_together() {
        assert!(hit("#.*", "a"));
        assert!(!hit("#.*", ""));
        assert!(hit("*.#", "a.b.c"));
        assert!(!hit("*.#", ""));
        assert!(hit("#.*.#", "a"));
        assert!(hit("#.*.#", "a.b.c"));
        assert!(!hit("#.*.#", ""));
        assert!(hit("*.#.*", "a.b"));
        assert!(!hit("*.#.*", "a"));
        assert!(hit("#.a.*.#", "x.a.b"));
        assert!(!hit("#.a.*.#", "x.a"));
        assert!(hit("a.*.#.c", "a.b.c"));
        assert!(hit("a.*.#.c", "a.b.x.y.c"));
        assert!(!hit("a.*.#.c", "a.c"));
    }

    #[test]
    fn empty_words_are_words() {
        assert!(hit("", ""));
        assert!(!hit("", "a"));
        assert!(!hit("a", ""));
        assert!(hit("a..b", "a..b"));
        assert!(!hit("a..b", "a.b"));
        assert!(hit("a.*.b", "a..b"));
        assert!(hit(".", "."));
        assert!(hit("*.*", "."));
        assert!(!hit("*", "."));
        assert!(hit("a.", "a."));
        assert!(hit("a.*", "a."));
        assert!(!hit("a.", "a"));
        assert!(hit(".a", ".a"));
        assert!(hit("#.", "a.b."));
        assert!(!hit("#.", "a.b"));
        assert!(hit("a.#", "a."));
    }

    #[test]
    fn wildcards_only_whole_words() {
        assert!(hit("a*", "a*"));
        assert!(!hit("a*", "ab"));
        assert!(!hit("a#", "ab"));
        assert!(hit("a#", "a#"));
        assert!(!hit("*a", "ba"));
        // A key word `*` or `#` is just a word.
        assert!(hit("*", "#"));
        assert!(!hit("#.b", "#"));
    }

    #[test]
    fn many_ids_many_patterns() {
        let mut t = TopicTrie::new();
        t.insert("a.b", 1);
        t.insert("a.b", 2);
        t.insert("a.*", 3);
        t.insert("#", 4);
        t.insert("x.y", 5);
        t.insert("a.#", 6);
        assert_eq!(matches(&t, "a.b"), vec![1, 2, 3, 4, 6]);
        assert_eq!(matches(&t, "a.c"), vec![3, 4, 6]);
        assert_eq!(matches(&t, "x.y"), vec![4, 5]);
        assert_eq!(matches(&t, ""), vec![4]);
        assert_eq!(t.len(), 6);
        assert_eq!(t.pattern_count(), 5);
    }

    #[test]
    fn each_id_once_through_many_paths() {
        let mut t = TopicTrie::new();
        for p in ["#.#", "#.*.#", "#.#.#.#", "*.#.*", "#.a.#"] {
            t.insert(p, 7);
            assert_eq!(matches(&t, "a.b.a.a.c.a"), vec![7]);
        }
        // The same id on several matching patterns is still reported once.
        t.insert("a.#", 7);
        t.insert("a.b.a.a.c.a", 7);
        assert_eq!(matches(&t, "a.b.a.a.c.a"), vec![7]);
    }

    #[test]
    fn same_id_on_many_patterns_merges() {
        // More matching patterns than the stack merge holds.
        let mut t = TopicTrie::new();
        let pats = [
            "#", "a.#", "#.b", "*.*", "a.b", "a.*", "*.b", "#.#", "#.*", "*.#", "a.#.b",
        ];
        for (i, p) in pats.iter().enumerate() {
            t.insert(p, i % 3);
            t.insert(p, 100 + i);
        }
        let mut want: Vec<usize> = (0..3).chain((0..pats.len()).map(|i| 100 + i)).collect();
        want.sort_unstable();
        assert_eq!(matches(&t, "a.b"), want);
    }

    #[test]
    fn many_hash_nodes_do_not_blow_up() {
        let mut t = TopicTrie::new();
        t.insert("#.#.#.#.#.#.#.#.#.#.#.#.z", 1);
        t.insert("#.#.#.#.#.#.#.#.#.#.#.#", 2);
        let key = vec!["a"; 200].join(".");
        assert_eq!(matches(&t, &key), vec![2]);
        assert_eq!(matches(&t, &(key + ".z")), vec![1, 2]);
    }

    #[test]
    fn insert_is_idempotent() {
        let mut t = TopicTrie::new();
        t.insert("a.*", 1);
        t.insert("a.*", 1);
        assert_eq!(t.len(), 1);
        assert_eq!(matches(&t, "a.b"), vec![1]);
        assert!(t.remove("a.*", 1));
        assert!(!t.remove("a.*", 1));
        assert!(t.is_empty());
        assert_eq!(matches(&t, "a.b"), Vec::<usize>::new());
    }

    #[test]
    fn remove_one_id_keeps_the_others() {
        let mut t = TopicTrie::new();
        t.insert("a.b", 1);
        t.insert("a.b", 2);
        t.insert("a.b.c", 3);
        t.insert("a.#", 4);
        assert!(!t.remove("a.b", 9));
        assert!(!t.remove("a.x", 1));
        assert!(!t.remove("a", 1));
        assert!(!t.remove("a.b.c.d", 3));
        assert!(t.remove("a.b", 1));
        assert_eq!(matches(&t, "a.b"), vec![2, 4]);
        assert!(t.remove("a.b", 2));
        assert_eq!(matches(&t, "a.b"), vec![4]);
        // The node under `a.b` still carries `a.b.c`.
        assert_eq!(matches(&t, "a.b.c"), vec![3, 4]);
        assert!(t.remove("a.#", 4));
        assert_eq!(matches(&t, "a.b.c"), vec![3]);
        assert_eq!(t.node_count(), 4);
        assert!(t.remove("a.b.c", 3));
        assert!(t.is_empty());
        assert_eq!(t.node_count(), 1);
    }

    #[test]
    fn removal_prunes_only_unused_nodes() {
        let mut t = TopicTrie::new();
        t.insert("a.b.c", 1);
        t.insert("a.x", 2);
        assert_eq!(t.node_count(), 5);
        t.remove("a.b.c", 1);
        assert_eq!(t.node_count(), 3);
        assert_eq!(matches(&t, "a.x"), vec![2]);
        t.insert("a.*.#", 3);
        t.insert("a.#.*", 4);
        t.remove("a.*.#", 3);
        assert_eq!(t.node_count(), 5);
        assert_eq!(matches(&t, "a.x"), vec![2, 4]);
    }

    #[test]
    fn memory_returns_after_removing_everything() {
        let mut t = TopicTrie::new();
        let (nodes0, cap0) = (t.node_count(), t.nodes.capacity());
        let mut pats = Vec::new();
        for i in 0..2000 {
            pats.push(format!("call.{i:032x}.CHANNEL_CREATE.*"));
            pats.push(format!("*.account%2F{i:02x}.{}.#", i % 7));
            pats.push(format!("#.{}.*", i % 13));
            pats.push(format!("w{i}"));
        }
        for (i, p) in pats.iter().enumerate() {
            t.insert(p, i);
            t.insert(p, i + 1_000_000);
        }
        assert!(t.node_count() > 2000);
        for (i, p) in pats.iter().enumerate() {
            assert!(t.remove(p, i));
        }
        assert!(!t.is_empty());
        for (i, p) in pats.iter().enumerate().rev() {
            assert!(t.remove(p, i + 1_000_000));
        }
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.pattern_count(), 0);
        assert_eq!(t.node_count(), nodes0);
        assert_eq!(t.nodes.capacity(), cap0);
        assert_eq!(t.words.len(), 0);
        assert!(matches!(&t.nodes[0].literal, Children::Small(v) if v.capacity() == 0));
    }

    #[test]
    fn a_word_shared_by_patterns_outlives_each_of_them() {
        let mut t = TopicTrie::new();
        t.insert("a.x", 1);
        t.insert("x.a", 2);
        t.insert("b.x", 3);
        assert_eq!(t.words.len(), 3);
        assert!(t.remove("a.x", 1));
        assert_eq!(matches(&t, "x.a"), vec![2]);
        assert_eq!(matches(&t, "b.x"), vec![3]);
        assert!(matches(&t, "a.x").is_empty());
        assert_eq!(t.words.len(), 3, "a and x still label edges");
        assert!(t.remove("x.a", 2));
        assert_eq!(t.words.len(), 2);
        assert_eq!(matches(&t, "b.x"), vec![3]);
        assert!(t.remove("b.x", 3));
        assert_eq!(t.words.len(), 0);
    }

    #[test]
    fn wide_fanout_switches_to_a_map_and_back() {
        let mut t = TopicTrie::new();
        for i in 0..100 {
            t.insert(&format!("a.{i}"), i);
        }
        t.insert("a.keep", 1000);
        assert!(matches!(t.nodes[1].literal, Children::Map(_)));
        for i in 0..100 {
            assert_eq!(matches(&t, &format!("a.{i}")), vec![i]);
        }
        for i in 0..100 {
            assert!(t.remove(&format!("a.{i}"), i));
        }
        assert!(matches!(t.nodes[1].literal, Children::Small(_)));
        assert_eq!(matches(&t, "a.keep"), vec![1000]);
        assert_eq!(t.node_count(), 3);
    }

    /// Seeded, so a failure reproduces.
    struct Rng(rand::rngs::StdRng);
    impl Rng {
        fn seeded(seed: u64) -> Self {
            Rng(rand::SeedableRng::seed_from_u64(seed))
        }
        fn below(&mut self, n: usize) -> usize {
            rand::Rng::random_range(&mut self.0, 0..n)
        }
        fn words(&mut self, alphabet: &[&str], max: usize) -> String {
            let n = self.below(max + 1);
            (0..n)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect::<Vec<_>>()
                .join(".")
        }
    }

    #[test]
    fn agrees_with_the_naive_matcher() {
        const PATTERN_WORDS: &[&str] = &["a", "b", "", "*", "#", "#", "*", "a*"];
        const KEY_WORDS: &[&str] = &["a", "b", "", "a*", "*"];
        let mut rng = Rng::seeded(0x5eed);
        for _round in 0..40 {
            let mut t = TopicTrie::new();
            let mut held: Vec<(String, usize)> = Vec::new();
            for id in 0..60 {
                let p = rng.words(PATTERN_WORDS, 6);
                t.insert(&p, id);
                held.push((p, id));
            }
            // Drop a third again, so matching also runs over pruned tries.
            for _ in 0..20 {
                let (p, id) = held.swap_remove(rng.below(held.len()));
                assert!(t.remove(&p, id));
            }
            for _ in 0..200 {
                let key = rng.words(KEY_WORDS, 7);
                let want: Vec<usize> = held
                    .iter()
                    .filter(|(p, _)| naive(p, &key))
                    .map(|&(_, id)| id)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                assert_eq!(matches(&t, &key), want, "key {key:?}");
            }
            for (p, id) in held.drain(..) {
                assert!(t.remove(&p, id));
            }
            assert!(t.is_empty());
            assert_eq!(t.node_count(), 1);
            assert_eq!(t.words.len(), 0);
        }
    }

    #[test]
    fn shared_ids_agree_with_the_naive_matcher() {
        // Few ids over many patterns: exercises merging the same id across matching patterns.
        const WORDS: &[&str] = &["a", "b", "*", "#"];
        let mut rng = Rng::seeded(42);
        for _round in 0..40 {
            let mut t = TopicTrie::new();
            let mut held = Vec::new();
            for _ in 0..30 {
                let p = rng.words(WORDS, 4);
                let id = rng.below(5);
                t.insert(&p, id);
                held.push((p, id));
            }
            for _ in 0..100 {
                let key = rng.words(&["a", "b"], 5);
                let mut want: Vec<usize> = held
                    .iter()
                    .filter(|(p, _)| naive(p, &key))
                    .map(|&(_, id)| id)
                    .collect();
                want.sort_unstable();
                want.dedup();
                assert_eq!(matches(&t, &key), want, "key {key:?}");
            }
        }
    }
}
