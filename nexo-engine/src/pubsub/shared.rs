//! Shared subscriptions (`$share/<group>/<filter>`): group membership and round-robin picking.
//!
//! Owns the groups, each identified by its whole subscription string (group name and filter
//! together, as in MQTT 5), its members in join order and a rotation cursor. It must not touch
//! the subscription tree or emit outputs: the broker puts one tree entry per group (keyed by
//! [`GroupId`]) under the filter and asks [`SharedGroups::pick`] for the member of each message.

use std::collections::BTreeMap;

use crate::ids::ConnId;

/// A shared group, numbered in creation order (the order groups receive a message in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupId(u64);

#[derive(Debug)]
struct Group {
    /// The `$share/<group>/<filter>` string.
    name: Box<str>,
    /// The pattern the tree entry is filed under.
    filter: Box<str>,
    /// Members in join order.
    members: Vec<ConnId>,
    /// Index of the member that receives the next message.
    next: usize,
}

/// All shared groups.
#[derive(Debug, Default)]
pub(crate) struct SharedGroups {
    by_name: BTreeMap<Box<str>, GroupId>,
    groups: BTreeMap<GroupId, Group>,
    next_id: u64,
}

impl SharedGroups {
    /// Adds `conn` to the group named by the subscription string `name` with `filter`,
    /// creating the group if needed. Returns the group and whether it was created (then the
    /// caller files it in the tree).
    pub fn join(&mut self, name: &str, filter: &str, conn: ConnId) -> (GroupId, bool) {
        let existing = self.by_name.get(name).and_then(|&id| self.groups.get_mut(&id).map(|g| (id, g)));
        if let Some((id, group)) = existing {
            if !group.members.contains(&conn) {
                group.members.push(conn);
            }
            return (id, false);
        }
        let id = GroupId(self.next_id);
        self.next_id += 1;
        self.by_name.insert(Box::from(name), id);
        let group = Group { name: Box::from(name), filter: Box::from(filter), members: vec![conn], next: 0 };
        self.groups.insert(id, group);
        (id, true)
    }

    /// Removes `conn` from group `id`. When the group is left empty it is deleted and its
    /// filter returned, so the caller removes its tree entry.
    pub fn leave(&mut self, id: GroupId, conn: ConnId) -> Option<Box<str>> {
        let group = self.groups.get_mut(&id)?;
        if let Some(index) = group.members.iter().position(|&m| m == conn) {
            group.members.remove(index);
            // Keep the rotation where it was: the member after the leaver is still next.
            if index < group.next {
                group.next -= 1;
            }
            if group.next >= group.members.len() {
                group.next = 0;
            }
        }
        if !group.members.is_empty() {
            return None;
        }
        let group = self.groups.remove(&id)?;
        self.by_name.remove(&group.name);
        Some(group.filter)
    }

    /// The member that receives the next message of group `id` (round-robin), advancing the
    /// rotation; `None` for an unknown or empty group.
    pub fn pick(&mut self, id: GroupId) -> Option<ConnId> {
        let group = self.groups.get_mut(&id)?;
        let member = *group.members.get(group.next)?;
        group.next = (group.next + 1) % group.members.len();
        Some(member)
    }

    /// Members of group `id`.
    pub fn member_count(&self, id: GroupId) -> usize {
        self.groups.get(&id).map_or(0, |g| g.members.len())
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn rotation_is_fair_across_leaves() {
        let mut groups = SharedGroups::default();
        let (id, created) = groups.join("$share/g/a", "a", ConnId(1));
        assert!(created);
        for c in [2, 3, 2] {
            assert_eq!(groups.join("$share/g/a", "a", ConnId(c)), (id, false));
        }
        assert_eq!(groups.member_count(id), 3);
        let picks: Vec<u64> = (0..4).filter_map(|_| groups.pick(id)).map(|c| c.0).collect();
        assert_eq!(picks, [1, 2, 3, 1]);
        // Next is 2; 1 leaves (before the cursor): 2 is still next.
        assert_eq!(groups.leave(id, ConnId(1)), None);
        assert_eq!(groups.pick(id), Some(ConnId(2)));
        // Next is 3 (the last); 3 leaves: wrap to 2.
        assert_eq!(groups.leave(id, ConnId(3)), None);
        assert_eq!(groups.pick(id), Some(ConnId(2)));
        assert_eq!(groups.leave(id, ConnId(2)).as_deref(), Some("a"));
        assert_eq!(groups.pick(id), None);
        assert_eq!(groups.len(), 0);
        let (other, created) = groups.join("$share/g/a", "a", ConnId(1));
        assert!(created && other != id);
    }
}
