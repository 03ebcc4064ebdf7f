//! The literal words a topic trie holds, each stored once and known by a small number.
//!
//! A key's word is hashed and compared as a string once per match, here; the trie's nodes then
//! find their children by number, without touching the strings again. An account id that
//! appears in a dozen patterns is also held once instead of a dozen times.

use std::collections::HashMap;

/// A word's number: dense, reused after the word is gone.
pub(super) type WordId = u32;

/// Words from clients' bindings, counted by the trie edges that use them.
#[derive(Default)]
pub(super) struct Words {
    /// foldhash with a per-process random seed: the words come from clients, so the hash must
    /// not be one they can collide on purpose, yet it runs once per word of every event's key.
    ids: HashMap<Box<str>, Entry, foldhash::fast::RandomState>,
    /// Numbers of words that are gone, for the next new word.
    free: Vec<WordId>,
}

struct Entry {
    id: WordId,
    edges: u32,
}

impl Words {
    /// The word's number, when some edge uses it.
    pub(super) fn id(&self, word: &str) -> Option<WordId> {
        self.ids.get(word).map(|e| e.id)
    }

    /// The word's number for one more edge, numbering it when it is new.
    pub(super) fn acquire(&mut self, word: &str) -> WordId {
        if let Some(entry) = self.ids.get_mut(word) {
            entry.edges += 1;
            return entry.id;
        }
        let id = self.free.pop().unwrap_or_else(|| {
            WordId::try_from(self.ids.len()).expect("distinct topic words fit in u32")
        });
        self.ids.insert(word.into(), Entry { id, edges: 1 });
        id
    }

    /// One edge fewer uses the word; the last one forgets it.
    pub(super) fn release(&mut self, word: &str) {
        let Some(entry) = self.ids.get_mut(word) else {
            debug_assert!(false, "released a word never acquired: {word:?}");
            return;
        };
        entry.edges -= 1;
        if entry.edges == 0 {
            let id = entry.id;
            self.ids.remove(word);
            self.free.push(id);
            if self.ids.is_empty() {
                // Numbers restart at 0, and the memory goes back.
                *self = Words::default();
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_numbered_once_and_forgotten_with_its_last_edge() {
        let mut words = Words::default();
        let a = words.acquire("a");
        assert_eq!(words.acquire("a"), a);
        let b = words.acquire("b");
        assert_ne!(a, b);
        assert_eq!(words.id("a"), Some(a));
        words.release("a");
        assert_eq!(words.id("a"), Some(a));
        words.release("a");
        assert_eq!(words.id("a"), None);
        assert_eq!(words.len(), 1);
        // The number is reused rather than growing.
        assert_eq!(words.acquire("c"), a);
    }

    #[test]
    fn numbers_stay_dense_through_churn() {
        let mut words = Words::default();
        for round in 0..3 {
            let names: Vec<String> = (0..100).map(|i| format!("w{round}-{i}")).collect();
            let ids: Vec<WordId> = names.iter().map(|n| words.acquire(n)).collect();
            assert!(ids.iter().all(|&id| id < 100));
            names.iter().for_each(|n| words.release(n));
        }
        assert_eq!(words.len(), 0);
        assert_eq!(words.ids.capacity(), 0);
    }
}
