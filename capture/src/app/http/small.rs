//! Containers shaped for the connection most HTTP flows are: one request
//! waiting at a time, each header block whole in one segment. The common
//! case costs no heap block and a few bytes in place; the rare one (a
//! pipelined queue, a header block cut across segments) allocates when it
//! comes.

use std::collections::VecDeque;

/// A first-in, first-out queue holding its front element in place.
#[derive(Debug)]
pub struct Queue<T> {
    /// The front; `None` only when the queue is empty.
    front: Option<T>,
    /// Behind the front, when there is anything: 8 bytes in place, where
    /// a queue would take 32.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<T>>>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            front: None,
            rest: None,
        }
    }
}

impl<T> Queue<T> {
    /// The front element.
    pub fn front(&self) -> Option<&T> {
        self.front.as_ref()
    }

    /// Takes the front element off.
    pub fn pop_front(&mut self) -> Option<T> {
        let front = self.front.take();
        if let Some(rest) = self.rest.as_mut() {
            self.front = rest.pop_front();
            if rest.is_empty() {
                self.rest = None;
            }
        }
        front
    }

    /// Adds an element at the back.
    pub fn push_back(&mut self, v: T) {
        if self.front.is_none() {
            self.front = Some(v);
        } else {
            self.rest.get_or_insert_with(Box::default).push_back(v);
        }
    }

    /// How many elements it holds.
    pub fn len(&self) -> usize {
        usize::from(self.front.is_some()) + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// Front to back.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.front
            .iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.front = None;
        self.rest = None;
    }
}

/// Bytes held while a message head is incomplete: a pointer in place,
/// the bytes in a block of their own only while some are held.
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // 8 bytes in place, where a vector takes 24
pub struct Held(Option<Box<Vec<u8>>>);

impl Held {
    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// How many bytes are held.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Holds `data` after what is held.
    pub fn extend(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.0
                .get_or_insert_with(Box::default)
                .extend_from_slice(data);
        }
    }

    /// Takes what is held, leaving nothing.
    pub fn take(&mut self) -> Vec<u8> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }

    /// Holds exactly `bytes`.
    pub fn set(&mut self, bytes: Vec<u8>) {
        self.0 = (!bytes.is_empty()).then(|| Box::new(bytes));
    }

    /// Lets go of what is held.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_its_order_across_the_front() {
        let mut q = Queue::default();
        assert_eq!(q.pop_front(), None);
        q.push_back(1);
        q.push_back(2);
        q.push_back(3);
        assert_eq!(q.front(), Some(&1));
        assert_eq!(q.pop_front(), Some(1));
        q.push_back(4);
        assert_eq!(q.pop_front(), Some(2));
        assert_eq!(q.pop_front(), Some(3));
        assert!(q.rest.is_none(), "the block goes when the rest drains");
        assert_eq!(q.pop_front(), Some(4));
        assert_eq!(q.pop_front(), None);
        q.push_back(5);
        q.push_back(6);
        q.clear();
        assert_eq!(q.front(), None);
    }

    #[test]
    fn held_bytes_allocate_only_while_held() {
        let mut h = Held::default();
        h.extend(b"");
        assert!(h.0.is_none());
        h.extend(b"GET / HT");
        h.extend(b"TP/1.1");
        assert_eq!(h.bytes(), b"GET / HTTP/1.1");
        assert_eq!(h.take(), b"GET / HTTP/1.1".to_vec());
        assert!(h.is_empty() && h.0.is_none());
        h.set(b"x".to_vec());
        assert_eq!(h.len(), 1);
        h.set(Vec::new());
        assert!(h.0.is_none());
    }
}
