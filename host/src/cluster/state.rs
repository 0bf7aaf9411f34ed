//! A tenant's state in the cluster: its checkpoint folder (the checkpoint,
//! the rules' snapshots, a rollback point, swap requests) packed into one
//! object per checkpoint, versioned by lease epoch and generation, and a
//! pointer to the latest in a key-value bucket, written by compare-and-set.
//! The pointer also carries the epoch of the latest lease: an owner whose
//! lease was taken over cannot write it any more (its revision is stale).
//! Component builds are stored once each, by digest.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{ensure, Context, Result};
use async_nats::jetstream::{kv, object_store};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::Connection;

/// Key-value bucket of the pointers, one key per tenant.
pub const POINTER_BUCKET: &str = "asim_state";
/// Object store of the packed checkpoints and the builds.
pub const OBJECT_BUCKET: &str = "asim_checkpoints";
/// The folder of a tenant's builds inside its state folder.
const BUILDS: &str = "components";
const BUNDLE_VERSION: u16 = 1;

/// Where a tenant's state is, and the epoch of its latest lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// Raised by every new owner.
    pub epoch: u64,
    /// The latest checkpoint's object; none before the first.
    pub object: Option<String>,
    /// The last message that checkpoint played or holds waiting.
    #[serde(default)]
    pub position: Option<u64>,
    /// That checkpoint's watermark.
    #[serde(default)]
    pub watermark: Option<asim_rule_core::Timestamp>,
}

/// A tenant's state folder, packed.
#[derive(Serialize, Deserialize)]
struct Bundle {
    version: u16,
    /// Every file but the builds: path relative to the folder, bytes.
    files: Vec<(String, Vec<u8>)>,
    /// The builds' file names (`DIGEST.wasm`), stored apart.
    builds: Vec<String>,
}

/// The cluster's tenant states.
pub struct States {
    pointers: kv::Store,
    objects: object_store::ObjectStore,
}

impl States {
    /// Opens (creates when missing) the pointer bucket and the object store.
    pub fn open(connection: &Connection) -> Result<States> {
        let jetstream = &connection.jetstream;
        let runtime = &connection.runtime;
        let pointers = runtime
            .block_on(jetstream.create_key_value(kv::Config {
                bucket: POINTER_BUCKET.to_owned(),
                history: 1,
                num_replicas: connection.replicas,
                ..Default::default()
            }))
            .with_context(|| format!("cannot open the key-value bucket {POINTER_BUCKET}"))?;
        let objects = runtime
            .block_on(jetstream.create_object_store(object_store::Config {
                bucket: OBJECT_BUCKET.to_owned(),
                num_replicas: connection.replicas,
                ..Default::default()
            }))
            .with_context(|| format!("cannot open the object store {OBJECT_BUCKET}"))?;
        Ok(States { pointers, objects })
    }

    /// `tenant`'s pointer and its revision (0: none yet).
    pub fn pointer(&self, connection: &Connection, tenant: &str) -> Result<(Pointer, u64)> {
        let entry = connection
            .runtime
            .block_on(self.pointers.entry(tenant))
            .with_context(|| format!("cannot read the state pointer of tenant {tenant}"))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                let pointer = serde_json::from_slice(&entry.value)
                    .with_context(|| format!("the state pointer of tenant {tenant} is damaged"))?;
                Ok((pointer, entry.revision))
            }
            Some(entry) => Ok((Pointer::default(), entry.revision)),
            None => Ok((Pointer::default(), 0)),
        }
    }

    /// Writes `pointer` if the stored one is still at `revision`; its new
    /// revision, or none when another owner wrote since (this one is fenced).
    pub fn swap_pointer(
        &self,
        connection: &Connection,
        tenant: &str,
        pointer: &Pointer,
        revision: u64,
    ) -> Result<Option<u64>> {
        let value = serde_json::to_vec(pointer)?.into();
        let runtime = &connection.runtime;
        let written = match revision {
            0 => match runtime.block_on(self.pointers.create(tenant, value)) {
                Ok(revision) => Ok(Some(revision)),
                Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(error) => Err(anyhow::Error::new(error)),
            },
            revision => match runtime.block_on(self.pointers.update(tenant, value, revision)) {
                Ok(revision) => Ok(Some(revision)),
                Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(error) => Err(anyhow::Error::new(error)),
            },
        };
        written.with_context(|| format!("cannot write the state pointer of tenant {tenant}"))
    }

    /// Packs `dir` (a tenant's state folder) into object `name`, storing
    /// any build not stored yet.
    pub fn upload(&self, connection: &Connection, dir: &Path, name: &str) -> Result<()> {
        let (bundle, builds) = pack(dir)?;
        let runtime = &connection.runtime;
        for (file, path) in builds {
            let object = build_object(&file);
            if runtime.block_on(self.objects.info(&object)).is_ok() {
                continue;
            }
            let bytes =
                fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
            runtime
                .block_on(self.objects.put(object.as_str(), &mut bytes.as_slice()))
                .with_context(|| format!("cannot store build {file}"))?;
        }
        let bytes = postcard::to_stdvec(&bundle)?;
        runtime
            .block_on(self.objects.put(name, &mut bytes.as_slice()))
            .with_context(|| format!("cannot store checkpoint {name}"))?;
        Ok(())
    }

    /// Replaces `dir` with the state folder packed in object `name`.
    pub fn download(&self, connection: &Connection, name: &str, dir: &Path) -> Result<()> {
        let bundle: Bundle = postcard::from_bytes(&self.read(connection, name)?)
            .with_context(|| format!("checkpoint {name} is damaged"))?;
        ensure!(
            bundle.version == BUNDLE_VERSION,
            "checkpoint {name} is of version {}, this host reads {BUNDLE_VERSION}",
            bundle.version
        );
        let _ = fs::remove_dir_all(dir);
        for (relative, bytes) in &bundle.files {
            write_inside(dir, relative, bytes).with_context(|| format!("checkpoint {name}"))?;
        }
        for file in &bundle.builds {
            let bytes = self.read(connection, &build_object(file))?;
            write_inside(dir, &format!("{BUILDS}/{file}"), &bytes)
                .with_context(|| format!("checkpoint {name}"))?;
        }
        Ok(())
    }

    /// Stores a component build unless it is there; its digest.
    pub fn store_build(&self, connection: &Connection, bytes: &[u8]) -> Result<String> {
        let digest = crate::serve::deploy::digest(bytes);
        let file = format!("{digest}.wasm");
        if !self.has(connection, &build_object(&file)) {
            self.put_build(connection, &file, bytes)?;
        }
        Ok(digest)
    }

    /// The build with `digest`.
    pub fn fetch_build(&self, connection: &Connection, digest: &str) -> Result<Vec<u8>> {
        self.read(connection, &build_object(&format!("{digest}.wasm")))
    }

    fn has(&self, connection: &Connection, object: &str) -> bool {
        connection
            .runtime
            .block_on(self.objects.info(object))
            .is_ok()
    }

    fn put_build(&self, connection: &Connection, file: &str, bytes: &[u8]) -> Result<()> {
        let object = build_object(file);
        connection
            .runtime
            .block_on(self.objects.put(object.as_str(), &mut &bytes[..]))
            .with_context(|| format!("cannot store build {file}"))?;
        Ok(())
    }

    /// Deletes object `name` (an older checkpoint), if it is there.
    pub fn delete(&self, connection: &Connection, name: &str) {
        let _ = connection.runtime.block_on(self.objects.delete(name));
    }

    fn read(&self, connection: &Connection, name: &str) -> Result<Vec<u8>> {
        connection.runtime.block_on(async {
            let mut object = self
                .objects
                .get(name)
                .await
                .with_context(|| format!("cannot read object {name}"))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .with_context(|| format!("cannot read object {name}"))?;
            Ok(bytes)
        })
    }
}

fn build_object(file: &str) -> String {
    format!("build.{file}")
}

/// The files of `dir` but its builds, and the builds' names and paths.
fn pack(dir: &Path) -> Result<(Bundle, Vec<(String, PathBuf)>)> {
    let mut bundle = Bundle {
        version: BUNDLE_VERSION,
        files: Vec::new(),
        builds: Vec::new(),
    };
    let mut builds = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let path = dir.join(&folder);
        let entries =
            fs::read_dir(&path).with_context(|| format!("{}: cannot list", path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("{}: cannot list", path.display()))?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|name| anyhow::anyhow!("{}: {name:?} is not UTF-8", path.display()))?;
            let relative = folder.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(relative);
            } else if name.ends_with(".tmp") {
                // Half-written: the checkpoint does not name it.
            } else if folder.as_os_str() == BUILDS {
                bundle.builds.push(name);
                builds.push((bundle.builds[bundle.builds.len() - 1].clone(), entry.path()));
            } else {
                let bytes = fs::read(entry.path())
                    .with_context(|| format!("{}: cannot read", entry.path().display()))?;
                let relative = relative.to_str().context("a path that is not UTF-8")?;
                bundle.files.push((relative.replace('\\', "/"), bytes));
            }
        }
    }
    bundle.files.sort();
    bundle.builds.sort();
    Ok((bundle, builds))
}

/// Writes `bytes` at `relative` inside `dir`, refusing a path that leaves it.
fn write_inside(dir: &Path, relative: &str, bytes: &[u8]) -> Result<()> {
    let fits = !relative.is_empty()
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'))
        && !relative.contains('\0');
    ensure!(fits, "{relative:?} is not a path inside a state folder");
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    fs::write(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_folder_holds_every_file_but_the_builds_and_unpacks_only_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("checkpoint.json", "{}"),
            ("rule-0-3.state", "snapshot"),
            ("rollback/checkpoint.json", "{\"old\":1}"),
            ("components/00112233aabbccdd.wasm", "wasm"),
            ("checkpoint.json.tmp", "half"),
        ] {
            write_inside(root, path, text.as_bytes()).unwrap();
        }
        let (bundle, builds) = pack(root).unwrap();
        let files: Vec<&str> = bundle.files.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            files,
            [
                "checkpoint.json",
                "rollback/checkpoint.json",
                "rule-0-3.state"
            ]
        );
        assert_eq!(bundle.builds, ["00112233aabbccdd.wasm"]);
        assert_eq!(builds[0].1, root.join("components/00112233aabbccdd.wasm"));
        for bad in ["", "../x", "a/../../x", "/etc/passwd", "a//b", "a\\..\\b"] {
            let error = write_inside(root, bad, b"x").unwrap_err();
            assert!(
                error.to_string().contains("not a path inside"),
                "{bad:?}: {error}"
            );
        }
    }
}
