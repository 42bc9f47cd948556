//! Who is in a room: one entry per user however many connections it has, in arrival order.

use std::collections::HashMap;
use std::sync::Arc;

use super::event::UserRef;

/// Per-user connection counts of one room.
#[derive(Debug, Default)]
pub struct Presence {
    users: HashMap<Arc<str>, Entry>,
    next_order: u64,
}

#[derive(Debug)]
struct Entry {
    user: UserRef,
    connections: usize,
    order: u64,
}

impl Presence {
    /// Counts a connection of `user`; true when it is the user's first in this room.
    pub fn add(&mut self, user: &UserRef) -> bool {
        let order = self.next_order;
        let entry = self.users.entry(user.key.clone()).or_insert_with(|| Entry {
            user: user.clone(),
            connections: 0,
            order,
        });
        entry.connections += 1;
        if entry.connections == 1 {
            self.next_order += 1;
            true
        } else {
            false
        }
    }

    /// Uncounts a connection of `user`; true when it was the user's last.
    pub fn remove(&mut self, user: &UserRef) -> bool {
        match self.users.get_mut(&user.key) {
            Some(e) if e.connections > 1 => {
                e.connections -= 1;
                false
            }
            Some(_) => {
                self.users.remove(&user.key);
                true
            }
            None => false,
        }
    }

    /// The users present, in the order they first arrived.
    pub fn snapshot(&self) -> Vec<UserRef> {
        let mut entries: Vec<&Entry> = self.users.values().collect();
        entries.sort_by_key(|e| e.order);
        entries.into_iter().map(|e| e.user.clone()).collect()
    }

    /// How many distinct users are present.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether nobody is present.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_user_first_and_last_reported() {
        let mut p = Presence::default();
        let ann = UserRef::user(1, "ann");
        let bob = UserRef::user(2, "bob");
        assert!(p.add(&ann));
        assert!(p.add(&bob));
        assert!(!p.add(&ann));
        assert_eq!(p.snapshot(), vec![ann.clone(), bob.clone()]);
        assert!(!p.remove(&ann));
        assert!(p.remove(&ann));
        assert_eq!(p.snapshot(), vec![bob]);
    }
}
