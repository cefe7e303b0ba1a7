//! A mount namespace of one's own, shared by the lab (its children, before
//! exec) and the `pam-driver` example (`--dev-log`), which include this file.

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

/// Moves the calling process into a new mount namespace whose mounts do not
/// propagate back to the host's. Allocates nothing (nix copies the short
/// path to the stack), so a forked child may call it before exec.
pub fn enter_private_mount_namespace() -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}
