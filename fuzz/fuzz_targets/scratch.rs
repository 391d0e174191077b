//! A folder of its own for a target whose parser reads files.

use std::path::{Path, PathBuf};

/// `moat-fuzz-<name>-<pid>` under `/dev/shm` when the system has it (on a
/// disk file system, rewriting a file can wait for the disk on every run),
/// else under the temporary folder. Folders that earlier runs of the same
/// target left behind are removed first, once their process is gone.
pub fn folder(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let prefix = format!("moat-fuzz-{name}-");
    // Without /proc, whether a process is gone cannot be told: keep all.
    if Path::new("/proc/self").exists()
        && let Ok(entries) = std::fs::read_dir(&base)
    {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("{prefix}{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}
