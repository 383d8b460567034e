//! Archiving (issue 18; docs/operations-model.md, "Archiving what was left open"): a hotel that sets
//! an archive-after has its tasks left unfinished and untouched for that long taken off the board.
//! An archived task keeps its status and history, stays in the API (`archived: true`) and comes
//! back to the board with its next change (a move, an assignment). Pure: the store finds, per
//! hotel, the tasks last changed before [`cutoff`] through an index of the unfinished tasks by
//! their last change, and writes what this module says.

use jiff::{SignedDuration, Timestamp};

use super::TaskStatus;

/// Whether a task with this status can be archived: one that is not finished.
pub fn can_archive(status: TaskStatus) -> bool {
    !status.is_final()
}

/// The last change before which a hotel's unfinished tasks are archived at `now`, under its
/// archive-after (`None`, or 0: never).
pub fn cutoff(now: Timestamp, archive_after_secs: Option<u32>) -> Option<Timestamp> {
    let secs = archive_after_secs.filter(|s| *s > 0)?;
    now.checked_sub(SignedDuration::from_secs(i64::from(secs)))
        .ok()
}

/// The history line of an archiving.
pub fn history_note(archive_after_secs: Option<u32>) -> String {
    format!(
        "archived: untouched for {}",
        super::time::format_setting_duration(archive_after_secs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_setting_before_now_and_none_when_off() {
        let now: Timestamp = "2026-07-04T12:00:00Z".parse().unwrap();
        assert_eq!(
            cutoff(now, Some(3 * 86_400)),
            Some("2026-07-01T12:00:00Z".parse().unwrap())
        );
        assert_eq!(cutoff(now, None), None);
        assert_eq!(cutoff(now, Some(0)), None);
        assert_eq!(history_note(Some(3 * 86_400)), "archived: untouched for 3d");
        assert_eq!(history_note(Some(90)), "archived: untouched for 90s");
    }

    #[test]
    fn only_unfinished_tasks_are_archived() {
        for s in TaskStatus::ALL {
            assert_eq!(can_archive(s), !s.is_final(), "{s}");
        }
    }
}
