//! A few items on the stack, the rest (rarely) on the heap: a match allocates nothing for the
//! common key.

const INLINE: usize = 8;

pub(super) struct SmallVec<T: Copy + Default> {
    inline: [T; INLINE],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy + Default> SmallVec<T> {
    pub(super) fn new() -> Self {
        SmallVec {
            inline: [T::default(); INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len + self.spill.len()
    }

    pub(super) fn push(&mut self, item: T) {
        if self.len < INLINE {
            self.inline[self.len] = item;
            self.len += 1;
        } else {
            self.spill.push(item);
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut T {
        if i < INLINE {
            &mut self.inline[..self.len][i]
        } else {
            &mut self.spill[i - INLINE]
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.inline[..self.len].iter().chain(self.spill.iter())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.inline[..self.len]
            .iter_mut()
            .chain(self.spill.iter_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_inline_items_in_order() {
        let mut v = SmallVec::new();
        for i in 0..20u32 {
            v.push(i);
        }
        assert_eq!(v.len(), 20);
        assert_eq!(
            v.iter().copied().collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        *v.get_mut(3) = 30;
        *v.get_mut(15) = 150;
        assert_eq!(v.iter().nth(3), Some(&30));
        assert_eq!(v.iter().nth(15), Some(&150));
        v.iter_mut().for_each(|x| *x += 1);
        assert_eq!(v.iter().nth(19), Some(&20));
    }
}
