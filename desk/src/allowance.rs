//! How many dossiers one node may create, or transfer to another unit, in
//! a day, as this node counts what it admits from outside
//! (`ProvinceRecord::daily_dossiers_per_node`, by default
//! `motcua_sync::cert::DOSSIERS_PER_NODE_PER_DAY`). A stolen node that
//! floods another unit's queues, or the province's disk, is refused the
//! rest of the day: its dossiers wait and come again the next day.
//! Dossiers a merger hands over do not count (the province signed the
//! succession), nor what the province relays (it counted them when it took
//! them, and a restored node refetches its own from it), nor what says it
//! happened more than two days ago: a node back from a long outage, or a
//! second desk of the unit filling from the first, brings dossiers of other
//! days, whose codes carry those days and take no code of today. Counts are per local day of this node and live in memory:
//! a restart gives every node a new allowance, which a peer cannot cause.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Nodes counted per day at most: an honest province has a few hundred.
const NODES_MAX: usize = 100_000;

#[derive(Default)]
pub struct DailyAllowance {
    /// (day as YYMMDD, node key) → dossiers admitted that day.
    counts: Mutex<BTreeMap<(u32, [u8; 32]), u32>>,
}

/// A node over its allowance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverAllowance {
    pub node: [u8; 32],
    pub count: u32,
    pub limit: u32,
}

impl std::fmt::Display for OverAllowance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {} has created or transferred {} dossiers today, the province's limit for one node; the rest waits for tomorrow",
            hex::encode(self.node),
            self.count
        )
    }
}

impl DailyAllowance {
    /// Counts one dossier for each of `nodes` on `day`, or none of them if
    /// one is at `limit` already.
    pub fn charge(&self, nodes: &[[u8; 32]], day: u32, limit: u32) -> Result<(), OverAllowance> {
        let mut counts = self.counts.lock().expect("allowance lock");
        // Yesterday's counts are done with.
        counts.retain(|(d, _), _| *d == day);
        for node in nodes {
            let count = counts.get(&(day, *node)).copied().unwrap_or(0);
            let seen = counts.len() >= NODES_MAX && count == 0;
            if count >= limit || seen {
                let first = count == limit;
                if first {
                    tracing::warn!(node = %hex::encode(node), limit, "a node reached its daily allowance of new or transferred dossiers");
                }
                // Counted past the limit, so the fleet view shows how far.
                if !seen {
                    counts.insert((day, *node), count.saturating_add(1));
                }
                return Err(OverAllowance { node: *node, count, limit });
            }
        }
        for node in nodes {
            *counts.entry((day, *node)).or_default() += 1;
        }
        Ok(())
    }

    /// The nodes over `limit` on `day`, with what they tried.
    pub fn over(&self, day: u32, limit: u32) -> Vec<OverAllowance> {
        let counts = self.counts.lock().expect("allowance lock");
        counts
            .iter()
            .filter(|((d, _), n)| *d == day && **n > limit)
            .map(|((_, node), n)| OverAllowance { node: *node, count: *n, limit })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_gets_its_allowance_each_day_and_no_more() {
        let a = DailyAllowance::default();
        let (m, b) = ([1; 32], [2; 32]);
        for _ in 0..3 {
            a.charge(&[m], 251117, 3).unwrap();
        }
        let over = a.charge(&[m], 251117, 3).unwrap_err();
        assert_eq!((over.node, over.count, over.limit), (m, 3, 3));
        // A transfer charged to another node too is refused whole.
        assert!(a.charge(&[b, m], 251117, 3).is_err());
        a.charge(&[b], 251117, 3).unwrap();
        assert_eq!(a.over(251117, 3), vec![OverAllowance { node: m, count: 5, limit: 3 }]);
        // The next day starts afresh.
        a.charge(&[m], 251118, 3).unwrap();
        assert!(a.over(251118, 3).is_empty());
    }
}
