//! The database's files are the service user's alone (mode 0600): they hold signing secrets, Duve
//! Connect bearer tokens and guest data (CONTRACT.md section 8).
//!
//! SQLite creates a database file with mode 0644 less the umask, and gives its `-wal`, `-shm` and
//! `-journal` the mode of the main file. So the main file is created here, 0600, before SQLite
//! opens it; a directory made for it is 0700. Files left by an earlier version with a looser mode
//! are tightened at open, with a warning in the log.

use std::{
    fs::{DirBuilder, OpenOptions, Permissions},
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use crate::store::StoreError;

/// The mode of every file of the database.
pub const FILE_MODE: u32 = 0o600;
/// The mode of a directory made for the database.
const DIR_MODE: u32 = 0o700;
/// What SQLite may put next to the database file.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the database file (and its directory) if missing, private; tightens the modes of
/// existing files of the database.
pub fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "cannot create {}: {e}",
                path.display()
            )));
        }
    }
    tighten(path);
    for suffix in COMPANIONS {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        tighten(&PathBuf::from(p));
    }
    Ok(())
}

/// A file readable or writable by others than its owner: made 0600, and said so. One that cannot
/// be changed (another owner) is left as it is, with a warning.
fn tighten(path: &Path) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() || mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE)) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            was = %format!("{mode:o}"),
            "the database file was readable by other users: its mode is 600 now"
        ),
        Err(e) => tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:o}"),
            error = %e,
            "the database file is readable by other users and its mode cannot be changed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_private_and_old_ones_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/hub.db");
        create_private(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        let wal = dir.path().join("data/hub.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o664)).unwrap();
        create_private(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }
}
