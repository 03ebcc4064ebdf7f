//! The node's HS256 signing secret (SPEC 1, 2). The key is the file's content with surrounding
//! whitespace trimmed, so `openssl rand -hex 32 > FILE` makes a valid one and other tools can
//! mint tokens from the same file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::io_reason;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("secret file {} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("cannot read secret file {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("cannot create secret file {}: {reason}", path.display())]
    Create { path: PathBuf, reason: String },
}

impl SecretError {
    pub fn path(&self) -> &Path {
        match self {
            SecretError::Missing { path }
            | SecretError::Empty { path }
            | SecretError::Read { path, .. }
            | SecretError::Create { path, .. } => path,
        }
    }
}

/// The secret at `path`; never creates it.
pub(crate) fn load(path: &Path) -> Result<Vec<u8>, SecretError> {
    let raw = fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SecretError::Missing {
            path: path.to_path_buf(),
        },
        _ => SecretError::Read {
            path: path.to_path_buf(),
            reason: io_reason(&e),
        },
    })?;
    let secret = raw.trim_ascii().to_vec();
    if secret.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_path_buf(),
        });
    }
    warn_if_readable_by_others(path);
    Ok(secret)
}

/// The secret at `path`, first creating it (mode 0600, 32 random bytes as hex) if absent.
pub(crate) fn load_or_create(path: &Path) -> Result<Vec<u8>, SecretError> {
    match load(path) {
        Err(SecretError::Missing { .. }) => {}
        other => return other,
    }
    let create_error = |e: io::Error| SecretError::Create {
        path: path.to_path_buf(),
        reason: io_reason(&e),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(create_error)?;
    }
    let bytes: [u8; 32] = rand::random();
    let mut content: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    content.push('\n');
    // create_new: if another node created it meanwhile, use theirs rather than overwrite it.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(content.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(create_error)?;
            tracing::info!(path = %path.display(), "created a new signing secret");
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(create_error(e)),
    }
    load(path)
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "secret file is accessible to other users; chmod 600 it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_hex_secret_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(
            first
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let on_disk = fs::read_to_string(&path).unwrap();
        assert_eq!(on_disk.len(), 65);
        assert!(on_disk.ends_with('\n'));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create(&path).unwrap(), first);
        assert_eq!(load(&path).unwrap(), first);
    }

    #[test]
    fn two_creations_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(&dir.path().join("a")).unwrap();
        let b = load_or_create(&dir.path().join("b")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn trims_surrounding_whitespace_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, " \tab cd\r\n\n").unwrap();
        assert_eq!(load(&path).unwrap(), b"ab cd");
        assert_eq!(load_or_create(&path).unwrap(), b"ab cd");
    }

    #[test]
    fn load_does_not_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let err = load(&path).unwrap_err();
        assert!(matches!(err, SecretError::Missing { .. }));
        assert_eq!(
            err.to_string(),
            format!("secret file {} does not exist", path.display())
        );
        assert!(!path.exists());
    }

    #[test]
    fn empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, "  \n").unwrap();
        assert!(matches!(load(&path), Err(SecretError::Empty { .. })));
        assert!(matches!(
            load_or_create(&path),
            Err(SecretError::Empty { .. })
        ));
    }

    #[test]
    fn unreadable_and_uncreatable_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, SecretError::Read { .. }), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));

        // A file where a parent directory should be.
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, "x").unwrap();
        let err = load_or_create(&blocker.join("secret")).unwrap_err();
        assert!(err.to_string().starts_with("cannot"), "{err}");
        assert!(err.to_string().contains("blocker"), "{err}");
    }
}
