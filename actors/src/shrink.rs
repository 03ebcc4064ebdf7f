//! Maps that follow a surge back down. A `HashMap` keeps the capacity of its fullest moment: after
//! 20,000 sockets came and went, the supervisor's and the router's tables would hold room for
//! 20,000 for the rest of the node's life.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Below this capacity a map is left alone.
const MIN_CAPACITY: usize = 64;

/// Gives back most of `map`'s capacity once it is a quarter full or less. It keeps room for twice
/// what it holds, so a shrink costs one pass over half the removals since the last: inserts and
/// removes that alternate never resize at every step.
pub(crate) fn shrink_when_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > MIN_CAPACITY && map.len() * 4 <= map.capacity() {
        map.shrink_to((map.len() * 2).max(MIN_CAPACITY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_that_emptied_gives_its_room_back_and_a_small_one_is_left_alone() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let peak = map.capacity();
        for i in 0..9_990 {
            map.remove(&i);
            shrink_when_sparse(&mut map);
        }
        assert!(map.capacity() < peak / 50, "{} of {peak}", map.capacity());
        assert_eq!(map.len(), 10);

        let mut small: HashMap<u32, u32> = (0..40).map(|i| (i, i)).collect();
        let room = small.capacity();
        small.clear();
        shrink_when_sparse(&mut small);
        assert_eq!(small.capacity(), room);
    }
}
