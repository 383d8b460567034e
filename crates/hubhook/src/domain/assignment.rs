//! Assignment (CONTRACT.md section 6): a task has at most one assignee, a user of its hotel. Who may
//! change it: a manager (an API key or an account) assigns anyone of the hotel or clears it; a staff
//! account claims a task for itself (one nobody has, or its own) and releases its own. A staff API
//! key has no identity, so it cannot claim: the API refuses it before anything else (403).
//! Pure: the store finds the task and the user, asks here, and writes what comes back.

/// Who asks for an assignment change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigner<'a> {
    /// A manager's key or account: anyone of the hotel, or nobody.
    Manager,
    /// A staff account (`users.id`): itself, or nobody in place of itself.
    Staff {
        /// The account's id.
        user_id: &'a str,
    },
}

/// A user an assignment may name, as the store found them in the task's hotel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    /// `users.id`, what the task stores.
    pub id: String,
    /// What TASK's `assignee` shows.
    pub email: String,
    /// A disabled account cannot be given tasks.
    pub disabled: bool,
}

/// Why an assignment change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// No user with that email in the task's hotel (another hotel's user is unknown here too).
    #[error("no user {0} in this hotel")]
    UnknownAssignee(String),
    /// The user exists but is disabled.
    #[error("the user {0} is disabled")]
    Disabled(String),
    /// A staff account named someone else, or cleared someone else's assignment.
    #[error("staff may claim a task only for themselves and release only their own")]
    NotYours,
    /// A staff account claimed a task someone else has.
    #[error("the task is assigned to {0}: only a manager can reassign it")]
    AssignedToOther(String),
}

/// The task's assignee now (`users.id` and email; the email is None for a user since removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    /// `tasks.assignee_id`.
    pub id: &'a str,
    /// Their email, when the user still exists.
    pub email: Option<&'a str>,
}

/// What a checked request does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The task already has that assignee (or nobody, for a clear): nothing is written, no event.
    Unchanged,
    /// The assignee becomes this user (None: nobody); a history line and `task.assigned`.
    Set(Option<Assignee>),
}

/// The rule, for a request by `by` on a task assigned to `current`, naming `target` (None: clear;
/// `Some(Err(email))` when no user of the hotel has that email).
pub fn decide(
    by: Assigner<'_>,
    current: Option<Current<'_>>,
    target: Option<Result<Assignee, String>>,
) -> Result<Decision, AssignError> {
    let target = match target {
        None => None,
        Some(Err(email)) => return Err(AssignError::UnknownAssignee(email)),
        Some(Ok(user)) if user.disabled => return Err(AssignError::Disabled(user.email)),
        Some(Ok(user)) => Some(user),
    };
    if let Assigner::Staff { user_id } = by {
        match (&target, current) {
            (Some(t), _) if t.id != user_id => return Err(AssignError::NotYours),
            (None, Some(c)) if c.id != user_id => return Err(AssignError::NotYours),
            (Some(_), Some(c)) if c.id != user_id => {
                return Err(AssignError::AssignedToOther(
                    c.email.unwrap_or("a removed user").to_owned(),
                ));
            }
            _ => {}
        }
    }
    let same = match (&target, current) {
        (None, None) => true,
        (Some(t), Some(c)) => t.id == c.id,
        _ => false,
    };
    Ok(if same {
        Decision::Unchanged
    } else {
        Decision::Set(target)
    })
}

/// The history line of an assignment change from `from` to `to` (emails).
pub fn history_note(from: Option<&str>, to: Option<&str>) -> String {
    match (from, to) {
        (None, Some(t)) => format!("assigned to {t}"),
        (Some(f), Some(t)) => format!("reassigned from {f} to {t}"),
        (Some(f), None) => format!("unassigned (was {f})"),
        (None, None) => "unassigned".to_owned(),
    }
}

/// Why a user's open tasks lost their assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The account was disabled.
    Disabled,
    /// The account was removed.
    Removed,
}

/// The history line of an open task unassigned because its assignee left.
pub fn departure_note(email: &str, why: Departure) -> String {
    match why {
        Departure::Disabled => format!("unassigned: {email} was disabled"),
        Departure::Removed => format!("unassigned: {email} was removed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, disabled: bool) -> Assignee {
        Assignee {
            id: id.into(),
            email: format!("{id}@h.test"),
            disabled,
        }
    }

    fn cur(id: &str) -> Option<Current<'_>> {
        Some(Current {
            id,
            email: Some("x@h.test"),
        })
    }

    const ANA: Assigner<'static> = Assigner::Staff { user_id: "ana" };

    #[test]
    fn a_manager_assigns_anyone_reassigns_and_clears() {
        let m = Assigner::Manager;
        assert_eq!(
            decide(m, None, Some(Ok(user("bo", false)))),
            Ok(Decision::Set(Some(user("bo", false))))
        );
        assert_eq!(
            decide(m, cur("ana"), Some(Ok(user("bo", false)))),
            Ok(Decision::Set(Some(user("bo", false))))
        );
        assert_eq!(decide(m, cur("ana"), None), Ok(Decision::Set(None)));
        assert_eq!(decide(m, None, None), Ok(Decision::Unchanged));
        assert_eq!(
            decide(m, cur("bo"), Some(Ok(user("bo", false)))),
            Ok(Decision::Unchanged)
        );
    }

    #[test]
    fn unknown_and_disabled_users_are_refused_whoever_asks() {
        for by in [Assigner::Manager, ANA] {
            assert_eq!(
                decide(by, None, Some(Err("zed@h.test".into()))),
                Err(AssignError::UnknownAssignee("zed@h.test".into()))
            );
            assert_eq!(
                decide(by, None, Some(Ok(user("ana", true)))),
                Err(AssignError::Disabled("ana@h.test".into()))
            );
        }
    }

    #[test]
    fn staff_claim_for_themselves_and_release_only_their_own() {
        assert_eq!(
            decide(ANA, None, Some(Ok(user("ana", false)))),
            Ok(Decision::Set(Some(user("ana", false))))
        );
        assert_eq!(
            decide(ANA, cur("ana"), Some(Ok(user("ana", false)))),
            Ok(Decision::Unchanged)
        );
        assert_eq!(decide(ANA, cur("ana"), None), Ok(Decision::Set(None)));
        assert_eq!(decide(ANA, None, None), Ok(Decision::Unchanged));
        assert_eq!(
            decide(ANA, None, Some(Ok(user("bo", false)))),
            Err(AssignError::NotYours)
        );
        assert_eq!(decide(ANA, cur("bo"), None), Err(AssignError::NotYours));
        assert_eq!(
            decide(ANA, cur("bo"), Some(Ok(user("ana", false)))),
            Err(AssignError::AssignedToOther("x@h.test".into()))
        );
    }

    #[test]
    fn history_lines_name_both_sides() {
        assert_eq!(history_note(None, Some("a@x")), "assigned to a@x");
        assert_eq!(
            history_note(Some("a@x"), Some("b@x")),
            "reassigned from a@x to b@x"
        );
        assert_eq!(history_note(Some("a@x"), None), "unassigned (was a@x)");
        assert_eq!(
            departure_note("a@x", Departure::Removed),
            "unassigned: a@x was removed"
        );
    }
}
