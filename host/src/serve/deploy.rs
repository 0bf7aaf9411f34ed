//! Which build of each rule a tenant runs, and how it changes while `serve`
//! runs. Every component a tenant runs is first copied into the tenant's
//! state directory under its digest, so a replaced file, a restart or a
//! rollback always gets the bytes that were validated. Swap requests come
//! from `asim-rules swap` (a file in the tenant's `swaps/` directory) or from
//! an edited configuration or component file.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::config::RuleConfig;
use crate::histogram::Histogram;

/// Where `asim-rules swap` leaves requests, inside a tenant's state directory.
pub const SWAPS_DIR: &str = "swaps";
/// Where `serve` answers them, inside `SWAPS_DIR`, one file per request under
/// the request's name.
pub const ANSWERS_DIR: &str = "done";

/// FNV-1a (64 bits) of a component's bytes, in hex: names the kept copy.
/// Not a defence against a forged collision: the state directory and the
/// components are the operator's.
pub fn digest(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A tenant's kept builds (`components/` in its state folder): every
/// component it runs is first copied here under its digest, so a replaced
/// file, a restart or a rollback always gets the bytes that were validated.
#[derive(Clone, Debug)]
pub struct Builds {
    dir: PathBuf,
}

impl Builds {
    /// The kept builds of the tenant whose state folder is `tenant`.
    pub fn of_tenant(tenant: &Path) -> Builds {
        Builds {
            dir: tenant.join("components"),
        }
    }

    /// Keeps a copy of the component at `source`; its digest.
    pub fn keep(&self, source: &Path) -> Result<String> {
        let bytes =
            fs::read(source).with_context(|| format!("{}: cannot read", source.display()))?;
        self.keep_bytes(&bytes)
    }

    /// Keeps a component given as its bytes; its digest.
    pub fn keep_bytes(&self, bytes: &[u8]) -> Result<String> {
        let digest = digest(bytes);
        let copy = self.path(&digest);
        if !copy.exists() {
            fs::create_dir_all(&self.dir)
                .with_context(|| format!("{}: cannot create", self.dir.display()))?;
            let temporary = copy.with_extension("tmp");
            fs::write(&temporary, bytes)
                .with_context(|| format!("{}: cannot write", temporary.display()))?;
            fs::rename(&temporary, &copy)
                .with_context(|| format!("{}: cannot write", copy.display()))?;
        }
        Ok(digest)
    }

    /// The kept copy of the component with `digest`.
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }

    /// What a configuration entry names now, its component kept.
    pub fn configured(&self, rule: &RuleConfig) -> Result<Configured> {
        Ok(Configured {
            digest: self.keep(&rule.component)?,
            parameters: rule.parameters.clone(),
        })
    }
}

/// What a configuration entry names: a build by its digest, and parameters.
/// Written in checkpoints as the pair `[digest, parameters]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "(String, BTreeMap<String, String>)",
    into = "(String, BTreeMap<String, String>)"
)]
pub struct Configured {
    /// The component's digest.
    pub digest: String,
    /// Parameters given to `configure`.
    pub parameters: BTreeMap<String, String>,
}

impl From<(String, BTreeMap<String, String>)> for Configured {
    fn from((digest, parameters): (String, BTreeMap<String, String>)) -> Configured {
        Configured { digest, parameters }
    }
}

impl From<Configured> for (String, BTreeMap<String, String>) {
    fn from(configured: Configured) -> Self {
        (configured.digest, configured.parameters)
    }
}

/// One build of a rule with its parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The file it was taken from.
    pub source: PathBuf,
    /// Its digest (see [`digest`]).
    pub digest: String,
    /// Parameters given to `configure`.
    pub parameters: BTreeMap<String, String>,
    /// The rule's version (`metadata().version`).
    pub version: String,
    /// When it was swapped in (wall clock, RFC 3339); none for the first.
    pub since: Option<String>,
}

impl Deployment {
    /// What a configuration entry names (its version known once loaded).
    pub fn configured(rule: &RuleConfig, configured: &Configured) -> Self {
        Deployment {
            source: rule.component.clone(),
            digest: configured.digest.clone(),
            parameters: configured.parameters.clone(),
            version: String::new(),
            since: None,
        }
    }

    /// `version (digest, name=value ...)`, for messages.
    pub fn describe(&self) -> String {
        let parameters: String = self
            .parameters
            .iter()
            .map(|(name, value)| format!(", {name}={value}"))
            .collect();
        format!("{} ({}{parameters})", self.version, self.digest)
    }

    /// Whether it runs the same bytes with the same parameters as `other`.
    pub fn same_build(&self, other: &Deployment) -> bool {
        self.digest == other.digest && self.parameters == other.parameters
    }
}

/// A tenant-rule's history: what runs, what ran before, and what the
/// configuration said when it was last applied.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleRecord {
    /// The rule's position among the tenant's `[[tenant.rule]]` entries.
    pub entry: usize,
    /// The entry's component digest and parameters when last applied: an
    /// edit of either (or of the file) is a swap.
    pub configured: Configured,
    /// The build running now.
    pub current: Deployment,
    /// The build it replaced, kept (with its state, while on probation) for
    /// rollback.
    pub previous: Option<Deployment>,
    /// The evaluation count the current build must reach before it is
    /// trusted; until then a failure rolls it back.
    pub probation_until: Option<u64>,
    /// What the last swap did.
    pub last_swap: Option<String>,
    /// Swaps applied to it (checkpoints before this count have none).
    #[serde(default)]
    pub swaps: u64,
    /// How long each applied swap held its tenant still, since serve
    /// started (not checkpointed).
    #[serde(skip)]
    pub swap_pauses: Histogram,
}

/// A request of `asim-rules swap`: the rule (id or short name), the new
/// component (none: the current one) and parameters (none: the current ones).
#[derive(Debug, Serialize, Deserialize)]
pub struct SwapRequest {
    /// The rule's id or short name.
    pub rule: String,
    /// The new build's file; none: the running one.
    pub component: Option<PathBuf>,
    /// The new parameters, all of them; none: the running ones.
    pub parameters: Option<BTreeMap<String, String>>,
}

/// `serve`'s answer to a request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwapAnswer {
    /// Whether the rule now runs what was asked.
    pub applied: bool,
    /// What was done, or why not.
    pub outcome: String,
}

/// A change to make: which rule, to what, and where it came from.
pub struct Swap {
    /// The rule's place among the tenant's rules.
    pub rule: usize,
    /// The build and parameters to run.
    pub target: Deployment,
    /// The request file to answer, when it came from `asim-rules swap`.
    pub request: Option<PathBuf>,
    /// What the configuration now says, when it came from there.
    pub configured: Option<Configured>,
}

/// The requests waiting in `dir/swaps`, oldest first.
pub fn requests(dir: &Path) -> Result<Vec<(PathBuf, Result<SwapRequest>)>> {
    let swaps = dir.join(SWAPS_DIR);
    let mut names: Vec<PathBuf> = match fs::read_dir(&swaps) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            // `asim-rules swap` writes `.NAME` and renames it when complete.
            .filter(|path| {
                path.file_name()
                    .is_some_and(|name| !name.to_string_lossy().starts_with('.'))
            })
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("{}: cannot list", swaps.display()))
        }
    };
    names.sort();
    Ok(names
        .into_iter()
        .map(|path| {
            let request = fs::read(&path)
                .with_context(|| format!("{}: cannot read", path.display()))
                .and_then(|bytes| {
                    serde_json::from_slice(&bytes)
                        .with_context(|| format!("{}: not a swap request", path.display()))
                });
            (path, request)
        })
        .collect())
}

/// Queues `request` for the tenant whose state folder is `tenant`: written
/// aside and renamed, so `serve` never reads half a request. Returns the
/// request's file, which [`answer_to`] takes.
pub fn queue(tenant: &Path, request: &SwapRequest) -> Result<PathBuf> {
    queue_as(tenant, &format!("{}.json", request_stamp()), request)
}

/// A name for a new request that sorts after those queued before it: the
/// time in nanoseconds and the process.
pub fn request_stamp() -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{stamp:024}-{}", std::process::id())
}

/// [`queue`] under the file name `name` (`*.json`).
pub fn queue_as(tenant: &Path, name: &str, request: &SwapRequest) -> Result<PathBuf> {
    let dir = tenant.join(SWAPS_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let temporary = dir.join(format!(".{name}"));
    fs::write(&temporary, serde_json::to_vec_pretty(request)?)
        .with_context(|| format!("{}: cannot write", temporary.display()))?;
    let path = dir.join(name);
    fs::rename(&temporary, &path).with_context(|| format!("{}: cannot write", dir.display()))?;
    Ok(path)
}

/// `serve`'s answer to the request queued as `request`; none yet.
pub fn answer_to(request: &Path) -> Result<Option<SwapAnswer>> {
    let Some((dir, name)) = request.parent().zip(request.file_name()) else {
        return Ok(None);
    };
    let path = dir.join(ANSWERS_DIR).join(name);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{}: not an answer", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("{}: cannot read", path.display())),
    }
}

/// Answers a request: the answer under the request's name in `swaps/done`,
/// then the request removed (a crash between the two answers it again).
pub fn answer(request: &Path, answer: &SwapAnswer) -> Result<()> {
    let Some((dir, name)) = request.parent().zip(request.file_name()) else {
        return Ok(());
    };
    let done = dir.join(ANSWERS_DIR);
    fs::create_dir_all(&done).with_context(|| format!("{}: cannot create", done.display()))?;
    let path = done.join(name);
    // Written aside and renamed: `asim-rules swap` never reads half an answer.
    let temporary = done.join(".answer.tmp");
    fs::write(&temporary, serde_json::to_vec_pretty(answer)?)
        .with_context(|| format!("{}: cannot write", temporary.display()))?;
    fs::rename(&temporary, &path).with_context(|| format!("{}: cannot write", path.display()))?;
    fs::remove_file(request).with_context(|| format!("{}: cannot remove", request.display()))
}

/// Wall-clock now, RFC 3339.
pub fn now() -> String {
    let time = crate::time::now();
    // Whole seconds.
    crate::time::format(time - time.rem_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(digest(b""), "cbf29ce484222325");
        assert_eq!(digest(b"a"), "af63dc4c8601ec8c");
        assert_eq!(digest(b"foobar"), "85944171f73967e8");
    }

    #[test]
    fn a_kept_component_is_named_by_its_digest_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("rule.wasm");
        fs::write(&source, b"first").unwrap();
        let builds = Builds::of_tenant(dir.path());
        let first = builds.keep(&source).unwrap();
        assert_eq!(fs::read(builds.path(&first)).unwrap(), b"first");
        fs::write(&source, b"second").unwrap();
        let second = builds.keep(&source).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read(builds.path(&first)).unwrap(), b"first");
        assert_eq!(fs::read(builds.path(&second)).unwrap(), b"second");
    }

    #[test]
    fn a_queued_request_is_read_by_serve_and_its_answer_found_by_the_client() {
        let tenant = tempfile::tempdir().unwrap();
        let request = SwapRequest {
            rule: "ti-map-ip".into(),
            component: None,
            parameters: Some(BTreeMap::from([("mode".into(), "fine".into())])),
        };
        let first = queue(tenant.path(), &request).unwrap();
        let second = queue(tenant.path(), &request).unwrap();
        assert!(answer_to(&first).unwrap().is_none());
        // Serve reads them oldest first, whole.
        let read = requests(tenant.path()).unwrap();
        let paths: Vec<&PathBuf> = read.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, [&first, &second]);
        assert_eq!(read[0].1.as_ref().unwrap().parameters, request.parameters);
        let outcome = SwapAnswer {
            applied: false,
            outcome: "refused: no such rule".into(),
        };
        answer(&first, &outcome).unwrap();
        let found = answer_to(&first).unwrap().unwrap();
        assert_eq!((found.applied, found.outcome), (false, outcome.outcome));
        // Answered, the request is gone; the other still waits.
        assert_eq!(requests(tenant.path()).unwrap().len(), 1);
    }
}
