//! What a dossier document arriving from outside (an import, a merge, sync)
//! may contain beyond what this node already holds.
//!
//! Two rules, both checked before the changes are applied:
//!
//! - **Shape.** A dossier is created by one change; every later change only
//!   appends: it inserts one new map into `events` (and, for a transfer or
//!   handover, into `participants`) and fills in the maps it made. A change
//!   that writes into the root, the applicant, the procedure or anybody
//!   else's event is refused, whoever signed it.
//! - **Authority in the author's view.** Each new event must be allowed by
//!   the workflow rules ([`crate::workflow::transition`]) in the state its
//!   author saw: the fold of the events in the causal past of the change
//!   that recorded it. Concurrent events recorded elsewhere cannot make a
//!   legitimate event look unauthorized (the fold surfaces those as
//!   conflicts), and no event can be placed before one its author had seen.
//!
//! Who signed each change, and whether that node may speak for the unit an
//! event names, is the sync crate's half (`motcua_sync::verify`).

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{ActorId, Automerge, ChangeHash, ObjType, ROOT, ReadDoc};

pub use crate::actor::{node_key_hex, node_key_of};

use crate::dossier::{DocError, DossierRecord, read_with_census};
use crate::fold::fold;
use crate::workflow::Action;

/// An event that the checked changes add, with the facts its signer's
/// certificate must vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub index: usize,
    /// Hex of the actor (node key) that recorded it.
    pub author: String,
    pub action: Action,
    /// The unit the event names as the one acting.
    pub unit: String,
    pub to_unit: Option<String>,
    pub succession: Option<String>,
    /// The receiving unit in the author's view, before the event.
    pub receiving_unit_before: String,
}

/// What the new changes of a document add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Additions {
    /// Each actor with new changes, and the hash of its latest change: a
    /// signature on it vouches for all of that actor's changes, because a
    /// change hash covers its dependencies.
    pub actors: Vec<(ActorId, ChangeHash)>,
    pub events: Vec<NewEvent>,
    pub record: DossierRecord,
    /// The actor of the creation change, when it is among the new changes
    /// (the document is new to this node).
    pub created_by: Option<ActorId>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthorityError {
    #[error("the document is incomplete: {0} change(s) it depends on are missing")]
    Incomplete(usize),
    #[error("the document has {0} creation changes; a dossier is created by exactly one")]
    Creations(usize),
    #[error("change {change} of actor {actor} {what}")]
    Shape { change: String, actor: String, what: String },
    #[error("event {index} ('{action}', unit {unit}) is refused: {reason}")]
    Refused { index: usize, action: String, unit: String, reason: String },
    #[error("the document is not a readable dossier: {0}")]
    Unreadable(String),
    #[error("the document was altered: {0}")]
    Altered(String),
}

impl From<DocError> for AuthorityError {
    fn from(e: DocError) -> Self {
        AuthorityError::Unreadable(e.to_string())
    }
}

type OpKey = (u64, ActorId);

fn list_id(doc: &Automerge, key: &str) -> Result<Option<OpKey>, AuthorityError> {
    Ok(match doc.get(ROOT, key).map_err(|e| AuthorityError::Unreadable(e.to_string()))? {
        Some((automerge::Value::Object(ObjType::List), automerge::ObjId::Id(c, a, _))) => Some((c, a)),
        _ => None,
    })
}

/// Checks the changes of `doc` that are not in the causal past of `known`
/// (the heads this node held before; empty for a document it lacks).
pub fn check_additions(
    doc: &Automerge,
    known: &[ChangeHash],
    utc_offset_minutes: i32,
) -> Result<Additions, AuthorityError> {
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        return Err(AuthorityError::Incomplete(missing.len()));
    }
    let metas = doc.get_changes_meta(&[]);
    let creations = metas.iter().filter(|m| m.deps.is_empty()).count();
    if creations != 1 {
        return Err(AuthorityError::Creations(creations));
    }
    let deps: HashMap<ChangeHash, Vec<ChangeHash>> = metas.iter().map(|m| (m.hash, m.deps.clone())).collect();
    // Which change made each operation: per actor, (start_op, max_op, hash).
    // Ordered: the first violation found, and so the reason given, is the
    // same on every node.
    let mut ranges: BTreeMap<String, Vec<(u64, u64, ChangeHash, bool)>> = BTreeMap::new();
    for m in &metas {
        ranges.entry(m.actor.to_hex_string()).or_default().push((m.start_op, m.max_op, m.hash, m.deps.is_empty()));
    }
    // Operation ids are unique and grow along the causal order, as automerge
    // makes them; a change that reused counters would have its operations
    // credited to an older change and pass unchecked.
    let max_op_of: HashMap<ChangeHash, u64> = metas.iter().map(|m| (m.hash, m.max_op)).collect();
    for m in metas.iter().filter(|m| m.max_op >= m.start_op) {
        let floor = m.deps.iter().filter_map(|d| max_op_of.get(d)).max().copied().unwrap_or(0);
        if m.start_op <= floor {
            return Err(AuthorityError::Altered(format!(
                "change {} reuses operation counters of the changes it builds on",
                m.hash
            )));
        }
    }
    for (actor, list) in &mut ranges {
        list.sort_unstable_by_key(|(start, ..)| *start);
        if list.windows(2).any(|w| w[0].1 >= w[0].0 && w[1].1 >= w[1].0 && w[1].0 <= w[0].1) {
            return Err(AuthorityError::Altered(format!("two changes of actor {actor} share operation counters")));
        }
    }
    let change_of = |actor: &str, counter: u64| {
        ranges.get(actor)?.iter().find(|(s, e, _, _)| (*s..=*e).contains(&counter)).copied()
    };
    let new_hashes: HashSet<ChangeHash> = doc.get_changes_meta(known).iter().map(|m| m.hash).collect();
    let events_list = list_id(doc, "events")?;
    let participants_list = list_id(doc, "participants")?;

    // Shape, from what the document holds now: every operation of every
    // change is a value the read met (so nothing was deleted, overwritten
    // or put outside a dossier's fields), and each one a later change made
    // is either a map appended to `events` or `participants` or inside an
    // object that same change made.
    let (record, census) = read_with_census(doc)?;
    let operations: u64 = metas.iter().map(|m| (m.max_op + 1).saturating_sub(m.start_op)).sum();
    let hexes: Vec<String> =
        (0..census.actors.len()).map(|i| census.actor(i).map(ActorId::to_hex_string).unwrap_or_default()).collect();
    let actor_of = |index: usize| hexes.get(index).map(String::as_str).unwrap_or("");
    for v in &census.visits {
        let actor = actor_of(v.op.1);
        let Some((start, end, hash, first)) = change_of(actor, v.op.0) else {
            return Err(AuthorityError::Unreadable(format!("operation {}@{} belongs to no change", v.op.0, actor)));
        };
        if first || !new_hashes.contains(&hash) {
            continue;
        }
        let shape = |what: String| AuthorityError::Shape { change: hash.to_string(), actor: actor.to_string(), what };
        let Some(parent) = v.parent else { return Err(shape("writes into the document root".into())) };
        let parent_actor = actor_of(parent.1);
        let made_here = parent_actor == actor && (start..=end).contains(&parent.0);
        let is = |list: &Option<OpKey>| {
            list.as_ref().is_some_and(|(c, a)| *c == parent.0 && a.to_hex_string() == parent_actor)
        };
        let appends = v.list_map && (is(&events_list) || is(&participants_list));
        if !made_here && !appends {
            return Err(shape(format!(
                "writes into an object it did not make (operation {}@{parent_actor})",
                parent.0
            )));
        }
    }
    if census.conflicts > 0 {
        return Err(AuthorityError::Altered(format!("{} field(s) hold concurrent values", census.conflicts)));
    }
    if census.visits.len() as u64 != operations {
        return Err(AuthorityError::Altered(format!(
            "{} of its {operations} operations are not a dossier's fields (deleted, overwritten or unknown)",
            operations.saturating_sub(census.visits.len() as u64)
        )));
    }

    let mut events = Vec::new();
    let event_changes: Vec<Option<ChangeHash>> =
        record.events.iter().map(|e| change_of(&e.author, e.counter).map(|(_, _, h, _)| h)).collect();
    let mut scratch = Some(DossierRecord { events: Vec::new(), ..record.clone() });
    for (index, recorded) in record.events.iter().enumerate() {
        let Some(change) = event_changes[index].filter(|h| new_hashes.contains(h)) else { continue };
        let e = &recorded.event;
        let refused = |reason: String| AuthorityError::Refused {
            index,
            action: e.action.map(|a| a.as_str()).unwrap_or("?").to_string(),
            unit: e.unit.clone(),
            reason,
        };
        if let Some(defect) = &recorded.defect {
            return Err(refused(defect.clone()));
        }
        let past = ancestors(&deps, change);
        let mut view = Vec::new();
        for (j, other) in record.events.iter().enumerate() {
            let seen = match event_changes[j] {
                Some(h) if h == change => j < index,
                Some(h) => past.contains(&h),
                None => false,
            };
            if seen {
                if j > index {
                    return Err(refused(format!("it is placed before event {j}, which its author had already seen")));
                }
                view.push(other.clone());
            }
        }
        // One copy of the dossier without its events serves every event's
        // view.
        let mut with = scratch.take().expect("put back after each event");
        with.events = view;
        let receiving_unit_before = fold(&with, utc_offset_minutes).receiving_unit;
        with.events.push(recorded.clone());
        let folded = fold(&with, utc_offset_minutes);
        if let Some(c) = folded.conflicts.iter().find(|c| c.event_index == with.events.len() - 1) {
            return Err(refused(c.reason.clone()));
        }
        scratch = Some(with);
        events.push(NewEvent {
            index,
            author: recorded.author.clone(),
            action: e.action.expect("an applied event has a kind"),
            unit: e.unit.clone(),
            to_unit: e.to_unit.clone(),
            succession: e.succession.clone(),
            receiving_unit_before,
        });
    }
    // Participants (who holds the dossier, and so who receives it): each
    // one is added by the change of a transfer or handover that hands the
    // dossier to that unit in that role, or is the receiving unit named at
    // creation. No change makes a unit a participant — a recipient of the
    // applicant's personal data — by itself.
    if let Some(parts) = doc.get(ROOT, "participants").map_err(|e| AuthorityError::Unreadable(e.to_string()))? {
        for (i, item) in doc.list_range(&parts.1, ..).enumerate() {
            let automerge::ObjId::Id(counter, actor, _) = item.id() else { continue };
            let actor = actor.to_hex_string();
            let Some((_, _, hash, creation)) = change_of(&actor, counter) else { continue };
            if !new_hashes.contains(&hash) {
                continue;
            }
            let (unit, role) = record.participants.get(i).map(|(u, r)| (u.as_str(), r.as_str())).unwrap_or(("", ""));
            let shape = |what: String| AuthorityError::Shape { change: hash.to_string(), actor: actor.clone(), what };
            if !crate::codes::is_unit_code(unit) {
                return Err(shape(format!("names participant {i} by '{unit:.40}', which is not a unit code")));
            }
            let vouched = if creation {
                i == 0 && role == "receiving" && unit == record.reception.unit
            } else {
                record.events.iter().zip(&event_changes).any(|(e, h)| {
                    *h == Some(hash)
                        && e.event.to_unit.as_deref() == Some(unit)
                        && matches!(
                            (e.event.action, role),
                            (Some(Action::Transfer), "processing") | (Some(Action::Handover), "receiving")
                        )
                })
            };
            if !vouched {
                return Err(shape(format!(
                    "adds unit {unit} as a participant ({role}) without an event of its own handing it the dossier"
                )));
            }
        }
    }
    let created_by =
        metas.iter().find(|m| m.deps.is_empty() && new_hashes.contains(&m.hash)).map(|m| m.actor.clone().into_owned());
    Ok(Additions { actors: latest_changes(doc, known), events, record, created_by })
}

/// Each actor with changes beyond `since`, and the hash of its latest
/// change, sorted by actor. A signature on that change vouches for all of
/// the actor's earlier ones, because a change hash covers its dependencies.
pub fn latest_changes(doc: &Automerge, since: &[ChangeHash]) -> Vec<(ActorId, ChangeHash)> {
    let mut latest: HashMap<ActorId, (u64, ChangeHash)> = HashMap::new();
    for m in doc.get_changes_meta(since) {
        let slot = latest.entry(m.actor.into_owned()).or_insert((0, m.hash));
        if m.seq >= slot.0 {
            *slot = (m.seq, m.hash);
        }
    }
    let mut actors: Vec<(ActorId, ChangeHash)> = latest.into_iter().map(|(a, (_, h))| (a, h)).collect();
    actors.sort();
    actors
}

/// Every change in the causal past of `of`, excluding `of` itself.
fn ancestors(deps: &HashMap<ChangeHash, Vec<ChangeHash>>, of: ChangeHash) -> HashSet<ChangeHash> {
    let mut seen = HashSet::new();
    let mut stack: Vec<ChangeHash> = deps.get(&of).cloned().unwrap_or_default();
    while let Some(h) = stack.pop() {
        if seen.insert(h) {
            stack.extend(deps.get(&h).into_iter().flatten().copied());
        }
    }
    seen
}

#[cfg(test)]
mod tests;
