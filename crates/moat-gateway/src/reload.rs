//! Reload on change of the config or of any file it references.
//!
//! Directories are watched rather than files: editors and deploy tools often
//! replace a file (write a new one, rename it over the old), which a watch on
//! the old file would miss. Events are debounced so a multi-step save is read
//! once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, watch};

use crate::server::Core;

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Starts watching the files of the current config.
    pub(crate) fn start(
        core: Arc<Core>,
        debounce: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> notify::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let _ = tx.send(event.paths);
                }
            })?;
        // Watch before returning, so that a change made right after start-up
        // is seen.
        let mut watched = HashSet::new();
        let (wanted, dirs) = targets(&core.watched_files());
        rewatch(&mut watcher, &mut watched, dirs);
        let task = tokio::spawn(run(core, watcher, watched, wanted, rx, debounce, shutdown));
        Ok(Self { _task: task })
    }
}

/// The files to react to, as (directory, file name) with the directory
/// canonicalised, and the directories to watch.
fn targets(files: &[PathBuf]) -> (HashSet<(PathBuf, std::ffi::OsString)>, HashSet<PathBuf>) {
    let mut wanted = HashSet::new();
    let mut dirs = HashSet::new();
    for f in files {
        let (Some(dir), Some(name)) = (f.parent(), f.file_name()) else {
            continue;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        wanted.insert((dir.clone(), name.to_os_string()));
        dirs.insert(dir);
    }
    (wanted, dirs)
}

fn is_wanted(path: &Path, wanted: &HashSet<(PathBuf, std::ffi::OsString)>) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    wanted.contains(&(dir, name.to_os_string()))
}

async fn run(
    core: Arc<Core>,
    mut watcher: RecommendedWatcher,
    mut watched: HashSet<PathBuf>,
    mut wanted: HashSet<(PathBuf, std::ffi::OsString)>,
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    debounce: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let paths = tokio::select! {
            p = rx.recv() => match p { Some(p) => p, None => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if !paths.iter().any(|p| is_wanted(p, &wanted)) {
            continue;
        }
        // Quiet period: every change to a watched file that follows closely
        // is taken, then the config reloaded once. Other files in the same
        // directories (the state file's journal, a log) do not extend it,
        // or one written all the time would hold the reload off for good.
        let mut quiet_until = tokio::time::Instant::now() + debounce;
        loop {
            match tokio::time::timeout_at(quiet_until, rx.recv()).await {
                Ok(Some(p)) if p.iter().any(|p| is_wanted(p, &wanted)) => {
                    quiet_until = tokio::time::Instant::now() + debounce;
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => break,
            }
        }
        tracing::info!("a watched file changed: reloading config");
        if core.reload("file-watch").await.is_ok() {
            let (w, dirs) = targets(&core.watched_files());
            wanted = w;
            rewatch(&mut watcher, &mut watched, dirs);
        }
    }
}

fn rewatch(
    watcher: &mut RecommendedWatcher,
    watched: &mut HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
) {
    for old in watched.difference(&dirs) {
        let _ = watcher.unwatch(old);
    }
    for new in dirs.difference(watched) {
        if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %new.display(), error = %e, "cannot watch directory");
        }
    }
    *watched = dirs;
}
