//! The directory notify sockets live in: `/run/oxinit` (or a fallback under
//! `$TMPDIR`), and inside it one private directory per oxinit instance.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where notify sockets live: `/run/oxinit` when it can be created and
/// written (the usual case: root in a container, where /run is a tmpfs),
/// else `$TMPDIR/oxinit-<uid>` (`/tmp` when `TMPDIR` is unset: an
/// unprivileged local run). The directory is made mode 0711 so a child
/// running as another user can reach its own socket without listing the
/// others. When neither can be prepared, the `$TMPDIR` path is returned
/// anyway and `NotifySocket::bind` reports the real error.
pub fn default_dir() -> PathBuf {
    let fallback = std::env::temp_dir().join(format!("oxinit-{}", nix::unistd::geteuid()));
    choose_dir(Path::new("/run/oxinit"), &fallback)
}

pub(crate) fn choose_dir(preferred: &Path, fallback: &Path) -> PathBuf {
    if prepare_dir(preferred).is_ok() {
        return preferred.to_path_buf();
    }
    let _ = prepare_dir(fallback);
    fallback.to_path_buf()
}

/// A private directory for one oxinit's sockets under a shared base such as
/// [`default_dir`]: two oxinits that share `/run` (nested, or side by side in
/// PID namespaces where both are pid 1) must not replace each other's
/// `notify-api.sock`. Removed with its contents on drop.
#[derive(Debug)]
pub struct RuntimeDir {
    path: PathBuf,
}

impl RuntimeDir {
    /// Creates `<base>/<pid>-<n>` (mode 0711), preparing `base` first.
    pub fn create(base: &Path) -> io::Result<RuntimeDir> {
        prepare_dir(base)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", base.display())))?;
        let pid = std::process::id();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let path = base.join(format!("{pid}-{:x}", seed.wrapping_add(attempt)));
            match fs::DirBuilder::new().mode(0o711).create(&path) {
                Ok(()) => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o711))?;
                    return Ok(RuntimeDir { path });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("cannot create {}: {err}", path.display()),
                    ))
                }
            }
        }
        Err(io::Error::other(format!(
            "cannot find a free directory name under {}",
            base.display()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Creates `dir` (mode 0711) unless it exists, and checks it is safe to
/// put sockets in: a real directory (not a symlink someone planted in
/// /tmp), owned by us, writable.
pub(crate) fn prepare_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            // /run may be missing in a scratch image.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
    }
    match fs::DirBuilder::new().mode(0o711).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let metadata = fs::symlink_metadata(dir)?;
    if !metadata.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if metadata.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::other(format!(
            "{} belongs to uid {}, not to us",
            dir.display(),
            metadata.uid()
        )));
    }
    // The umask may have narrowed the mode; others need to pass through.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o711))?;
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(io::Error::from)
}
