//! The components `serve` has compiled, by path, shared by every tenant. A
//! build a swap asks for is compiled on a thread of its own while the
//! tenants play on, so that a swap pauses its tenant for the state hand-over
//! alone, never for Cranelift.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::engine::{LoadedRule, RuleHost};

type Compiled = Result<LoadedRule, String>;

/// Compiled components, and those being compiled.
#[derive(Default)]
pub struct Components {
    ready: BTreeMap<PathBuf, Compiled>,
    compiling: BTreeMap<PathBuf, (Instant, JoinHandle<Compiled>)>,
    /// How long each build compiled beside the tenants took, until a swap
    /// reports it.
    took: BTreeMap<PathBuf, Duration>,
}

impl Components {
    /// The component at `path`, compiled now if it is not yet (a tenant
    /// starting needs it before anything else).
    pub fn load(&mut self, host: &RuleHost, path: &Path) -> &Compiled {
        if let Some((_, compiling)) = self.compiling.remove(path) {
            let compiled = join(compiling);
            self.ready.insert(path.to_owned(), compiled);
        }
        self.ready
            .entry(path.to_owned())
            .or_insert_with(|| host.load(path).map_err(|error| format!("{error:#}")))
    }

    /// Whether the component at `path` is compiled; if not, its compiling
    /// is started (or goes on) beside the tenants.
    pub fn is_ready(&mut self, host: &RuleHost, path: &Path) -> bool {
        if self.ready.contains_key(path) {
            return true;
        }
        if let Some((_, compiling)) = self.compiling.get(path) {
            if !compiling.is_finished() {
                return false;
            }
        }
        if let Some((started, compiling)) = self.compiling.remove(path) {
            self.took.insert(path.to_owned(), started.elapsed());
            self.ready.insert(path.to_owned(), join(compiling));
            return true;
        }
        let (host, owned) = (host.clone(), path.to_owned());
        let compiling =
            std::thread::spawn(move || host.load(&owned).map_err(|error| format!("{error:#}")));
        self.compiling
            .insert(path.to_owned(), (Instant::now(), compiling));
        false
    }

    /// How long the component at `path` took to compile beside the tenants,
    /// once (the swap that asked for it reports it).
    pub fn took(&mut self, path: &Path) -> Option<Duration> {
        self.took.remove(path)
    }

    /// Waits up to `most` for a build being compiled to be done.
    pub fn wait(&self, most: Duration) {
        let until = Instant::now() + most;
        while Instant::now() < until
            && !self
                .compiling
                .values()
                .any(|(_, compiling)| compiling.is_finished())
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A compiling thread's result; a panic in the compiler refuses the build.
fn join(compiling: JoinHandle<Compiled>) -> Compiled {
    compiling
        .join()
        .unwrap_or_else(|_| Err("the compiler panicked on it".to_owned()))
}
