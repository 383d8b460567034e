//! Outbound fairness (CONTRACT.md section 8, docs/security.md "Outbound fairness"): one hotel's
//! slow or hanging receivers must not hold every send in flight, nor its subscriptions and replays
//! grow without bound. Pure: the backends read the counts, these rules decide.

use std::collections::HashMap;

/// A hotel's subscriptions, unless `HUBHOOK_MAX_SUBSCRIPTIONS` says otherwise.
pub const DEFAULT_MAX_SUBSCRIPTIONS: u32 = 20;

/// A replay is refused while the hotel has this many deliveries pending: replays cannot grow a
/// hotel's backlog past it (deliveries its own task changes queue are never refused).
pub const REPLAY_PENDING_CAP: u32 = 200;

/// The code of a refusal by one of these bounds (409).
pub const CODE_LIMIT: &str = "LIMIT_REACHED";

/// How many claimed deliveries (being sent, or about to be) one hotel may hold at once: the
/// configured share, but always fewer than `max_in_flight` (at least 1), so that one hotel never
/// holds every slot.
pub fn hotel_share(max_in_flight: usize, configured: usize) -> u32 {
    let most = max_in_flight.saturating_sub(1).max(1);
    u32::try_from(configured.clamp(1, most)).unwrap_or(u32::MAX)
}

/// Which of `candidates` (each a hotel id, in the order they are due) to claim: in that order, at
/// most `limit` in all, and for each hotel no more than its `share` less what it already `held`.
/// Returns their indexes.
pub fn pick_fair<S: AsRef<str>>(
    candidates: &[S],
    held: &HashMap<String, u32>,
    share: u32,
    limit: usize,
) -> Vec<usize> {
    let mut taken: HashMap<&str, u32> = HashMap::new();
    let mut out = Vec::new();
    for (i, hotel) in candidates.iter().enumerate() {
        if out.len() >= limit {
            break;
        }
        let hotel = hotel.as_ref();
        let now = held.get(hotel).copied().unwrap_or(0);
        let n = taken.entry(hotel).or_insert(0);
        if now.saturating_add(*n) < share {
            *n += 1;
            out.push(i);
        }
    }
    out
}

/// Why a new subscription is refused: the hotel has `existing` of at most `max`.
pub fn subscription_refusal(existing: u64, max: u32) -> Option<String> {
    (existing >= u64::from(max)).then(|| {
        format!(
            "the hotel already has {existing} subscriptions, the most it may have \
             (HUBHOOK_MAX_SUBSCRIPTIONS = {max}); remove one first"
        )
    })
}

/// Why a replay is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// The delivery is being sent right now: a replay would send it twice at once, and take it
    /// out of its hotel's share of the sends in flight.
    InFlight,
    /// The hotel has this many deliveries waiting (see [`REPLAY_PENDING_CAP`]).
    Backlog(u64),
}

impl std::fmt::Display for ReplayRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayRefusal::InFlight => {
                f.write_str("the delivery is being sent right now; replay it once it ended")
            }
            ReplayRefusal::Backlog(n) => write!(
                f,
                "the hotel already has {n} deliveries waiting to be sent (a replay is refused from \
                 {REPLAY_PENDING_CAP}); replay again once they went out"
            ),
        }
    }
}

/// Whether a delivery may be replayed: not while it is `in_flight`; and when it ended (not
/// `already_pending`), not while its hotel has [`REPLAY_PENDING_CAP`] deliveries `pending`. A
/// pending delivery that is not being sent may be replayed (sent now, from its first attempt):
/// that adds nothing to the backlog.
pub fn replay_refusal(
    pending: u64,
    already_pending: bool,
    in_flight: bool,
) -> Option<ReplayRefusal> {
    if in_flight {
        return Some(ReplayRefusal::InFlight);
    }
    (!already_pending && pending >= u64::from(REPLAY_PENDING_CAP))
        .then_some(ReplayRefusal::Backlog(pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hotels_share_leaves_a_send_in_flight_to_the_others() {
        assert_eq!(hotel_share(64, 16), 16);
        assert_eq!(hotel_share(64, 100), 63);
        assert_eq!(hotel_share(4, 16), 3);
        assert_eq!(hotel_share(2, 16), 1);
        assert_eq!(hotel_share(1, 16), 1);
        assert_eq!(hotel_share(64, 0), 1);
    }

    #[test]
    fn claims_take_at_most_the_share_per_hotel_in_due_order() {
        let due = ["a", "a", "a", "b", "a", "c", "b", "b", "b"];
        let none = HashMap::new();
        assert_eq!(pick_fair(&due, &none, 2, 100), vec![0, 1, 3, 5, 6]);
        assert_eq!(pick_fair(&due, &none, 2, 3), vec![0, 1, 3]);
        // A hotel already at its share gets nothing; one below it gets the rest of its share.
        let held = HashMap::from([("a".to_owned(), 2), ("b".to_owned(), 1)]);
        assert_eq!(pick_fair(&due, &held, 2, 100), vec![3, 5]);
        let over = HashMap::from([("a".to_owned(), 7)]);
        assert_eq!(pick_fair(&due, &over, 2, 100), vec![3, 5, 6]);
        assert!(pick_fair(&due, &none, 2, 0).is_empty());
        assert!(pick_fair::<&str>(&[], &none, 2, 10).is_empty());
    }

    #[test]
    fn the_subscription_cap_counts_what_exists() {
        assert_eq!(subscription_refusal(19, 20), None);
        let why = subscription_refusal(20, 20).unwrap();
        assert!(why.contains("20 subscriptions"), "{why}");
        assert!(subscription_refusal(0, 0).is_some());
    }

    #[test]
    fn replays_are_bounded_by_the_hotels_backlog_and_never_double_a_send() {
        let cap = u64::from(REPLAY_PENDING_CAP);
        assert_eq!(replay_refusal(0, false, false), None);
        assert_eq!(replay_refusal(cap - 1, false, false), None);
        assert_eq!(
            replay_refusal(cap, false, false),
            Some(ReplayRefusal::Backlog(cap))
        );
        assert_eq!(replay_refusal(cap, true, false), None, "adds nothing");
        assert_eq!(replay_refusal(0, true, true), Some(ReplayRefusal::InFlight));
        assert!(ReplayRefusal::InFlight.to_string().contains("right now"));
    }
}
