//! The components `serve` has compiled, shared by every tenant. Tenants keep
//! their own copies of a component, so one is known by its bytes: the same
//! bytes under another path are compiled and checked once (compared byte for
//! byte, not by digest, so that a forged collision cannot hand one tenant's
//! code to another). A build a swap asks for is compiled on a thread of its
//! own while the tenants play on, so that a swap pauses its tenant for the
//! state hand-over alone, never for Cranelift.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::engine::{read_component, LoadedRule, RuleHost};

type Compiled = Result<LoadedRule, String>;

/// What is known of a component file.
enum Lookup {
    /// Bytes not compiled before.
    New(Vec<u8>),
    /// Compiled (the same bytes under another path), or unreadable.
    Known(Box<Compiled>),
}

/// A build compiling beside the tenants: when it started, and its thread,
/// which gives back the bytes it compiled.
type Compiling = (Instant, JoinHandle<(Vec<u8>, Compiled)>);

/// Compiled components by path and by bytes, and those being compiled.
#[derive(Default)]
pub struct Components {
    ready: BTreeMap<PathBuf, Compiled>,
    /// Components that loaded, by their bytes (a few per host).
    known: Vec<(Vec<u8>, LoadedRule)>,
    compiling: BTreeMap<PathBuf, Compiling>,
    /// How long each build compiled beside the tenants took, until a swap
    /// reports it.
    took: BTreeMap<PathBuf, Duration>,
}

impl Components {
    /// The component at `path`, compiled now if it is not yet (a tenant
    /// starting needs it before anything else).
    pub fn load(&mut self, host: &RuleHost, path: &Path) -> &Compiled {
        if let Some((_, compiling)) = self.compiling.remove(path) {
            self.finish(path, compiling);
        }
        if !self.ready.contains_key(path) {
            let compiled = match self.lookup(path) {
                Lookup::New(bytes) => {
                    let compiled = load(host, path, &bytes);
                    self.remember(bytes, &compiled);
                    compiled
                }
                Lookup::Known(compiled) => *compiled,
            };
            self.ready.insert(path.to_owned(), compiled);
        }
        &self.ready[path]
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
            self.finish(path, compiling);
            return true;
        }
        match self.lookup(path) {
            Lookup::New(bytes) => {
                let (host, owned) = (host.clone(), path.to_owned());
                let compiling = std::thread::spawn(move || {
                    let compiled = load(&host, &owned, &bytes);
                    (bytes, compiled)
                });
                self.compiling
                    .insert(path.to_owned(), (Instant::now(), compiling));
                false
            }
            Lookup::Known(compiled) => {
                self.ready.insert(path.to_owned(), *compiled);
                true
            }
        }
    }

    /// What is known of the component at `path`.
    fn lookup(&self, path: &Path) -> Lookup {
        let bytes = match read_component(path) {
            Ok(bytes) => bytes,
            Err(error) => return Lookup::Known(Box::new(Err(format!("{error:#}")))),
        };
        match self.known.iter().find(|(known, _)| *known == bytes) {
            Some((_, rule)) => {
                let mut rule = rule.clone();
                rule.path = path.to_owned();
                Lookup::Known(Box::new(Ok(rule)))
            }
            None => Lookup::New(bytes),
        }
    }

    /// Keeps a component that loaded, to share it with the same bytes
    /// elsewhere (a refusal is not shared: its message names its own path).
    fn remember(&mut self, bytes: Vec<u8>, compiled: &Compiled) {
        if let Ok(rule) = compiled {
            self.known.push((bytes, rule.clone()));
        }
    }

    /// Takes a compiling thread's result as the component at `path`.
    fn finish(&mut self, path: &Path, compiling: JoinHandle<(Vec<u8>, Compiled)>) {
        let (bytes, compiled) = compiling
            .join()
            .unwrap_or_else(|_| (Vec::new(), Err("the compiler panicked on it".to_owned())));
        self.remember(bytes, &compiled);
        self.ready.insert(path.to_owned(), compiled);
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

fn load(host: &RuleHost, path: &Path, bytes: &[u8]) -> Compiled {
    host.load_bytes(path, bytes)
        .map_err(|error| format!("{error:#}"))
}
