//! `serve --nats`: one instance of a cluster. Every instance reads the same
//! config; each runs the tenants whose leases it holds, at most its share
//! (the tenants divided by the live instances, rounded up), taking free
//! ones and giving up extras as instances come and go. A tenant's state
//! lives in the cluster (`crate::cluster::state`): taking a tenant restores
//! its latest checkpoint into a scratch folder of this instance and plays
//! its messages from there; its checkpoint is stored back under the lease's
//! epoch every [`STORE_EVERY`] while it moves, and when the tenant is given
//! up. A takeover plays again what came after the stored checkpoint: the
//! alerts it publishes again carry the same ids, which the alert stream drops. An instance that lost
//! a lease (it stalled past the lease time) is fenced: its next store is
//! refused, and it drops the tenant without writing anything more.

use std::{
    fs,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};

use super::{components::Components, config::Config, metrics, tenant::Tenant, write_status, Io};
use crate::{
    cluster::{
        lease::{Held, Leases},
        state::{Pointer, States},
        swaps::Swaps,
        Connection, Owner,
    },
    engine::RuleHost,
    limits::{LEASE_TIME, RENEW_EVERY, STORE_EVERY},
    printable::printable,
    serve::deploy::{self, Builds, SwapAnswer, SwapRequest},
};

/// A tenant this instance runs.
struct Running {
    tenant: Tenant,
    held: Held,
    /// Whether its lease was lost: it is dropped after the round.
    lost: bool,
    /// The revision of the tenant's state pointer this instance last wrote.
    pointer_revision: u64,
    /// The checkpoint stored last: its generation and object, and when.
    stored: (u64, Option<String>),
    stored_at: Instant,
}

/// The instance's view of the cluster.
struct Instance<'a> {
    connection: &'a Arc<Connection>,
    config: &'a Config,
    host: &'a RuleHost,
    leases: Leases,
    states: States,
    swaps: Swaps,
    /// This instance's folder of tenant state folders.
    scratch: PathBuf,
    components: Components,
    running: Vec<Running>,
    /// This instance's share of the tenants (tenants / live instances,
    /// rounded up), counted at each renewal.
    share: usize,
}

/// Runs this instance's share of the config's tenants until stopped, or,
/// with `until_idle`, until every tenant is held and nothing is left to play
/// here. On the way out its checkpoints are stored and its leases given up.
pub(super) fn run(
    config: &Config,
    connection: &Arc<Connection>,
    host: &RuleHost,
    until_idle: bool,
    exporter: Option<&metrics::Exporter>,
) -> Result<()> {
    for tenant in &config.tenants {
        Owner::tenant(&tenant.name)
            .with_context(|| format!("tenant {}", printable(&tenant.name)))?;
    }
    let id = instance_id();
    let scratch = config.state.join(format!("instance-{id}"));
    fs::create_dir_all(&scratch)
        .with_context(|| format!("{}: cannot create", scratch.display()))?;
    let mut instance = Instance {
        connection,
        config,
        host,
        leases: Leases::open(connection, &id, LEASE_TIME)?,
        states: States::open(connection)?,
        swaps: Swaps::open(connection)?,
        scratch,
        components: Components::default(),
        running: Vec::new(),
        share: config.tenants.len(),
    };
    tracing::info!("instance {id} joins the cluster");
    let result = instance.serve(until_idle, exporter);
    instance.leave();
    result
}

impl Instance<'_> {
    /// Plays rounds. An error in a round ends a run `until_idle`; a
    /// long-running instance says it, lets its tenants go (their state is
    /// in the cluster, so whoever takes them replays from there) and goes on.
    fn serve(&mut self, until_idle: bool, exporter: Option<&metrics::Exporter>) -> Result<()> {
        self.renew()?;
        let mut renewed = Instant::now();
        loop {
            match self.round(&mut renewed, until_idle, exporter) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(error) if until_idle => return Err(error),
                Err(error) => {
                    let message =
                        format!("{error:#}; this instance lets its tenants go and goes on");
                    tracing::warn!("{}", printable(&message));
                    self.let_go();
                    std::thread::sleep(RENEW_EVERY);
                }
            }
        }
    }

    /// Renews, takes and gives up tenants, plays each once; whether it is
    /// done (`until_idle`, every tenant held, nothing played or taken).
    fn round(
        &mut self,
        renewed: &mut Instant,
        until_idle: bool,
        exporter: Option<&metrics::Exporter>,
    ) -> Result<bool> {
        if self.renew_if_due(renewed)? {
            self.sync_swaps()?;
        }
        let took = self.take_up_to()?;
        let mut played = false;
        for index in 0..self.running.len() {
            played |= self.play(index)?;
            self.renew_if_due(renewed)?;
        }
        self.running.retain(|running| !running.lost);
        while self.running.len() > self.share {
            self.give_up_last()?;
        }
        let tenants = self.running.iter().map(|running| &running.tenant);
        write_status(&self.scratch, tenants, exporter)?;
        if until_idle && !played && !took && self.all_held()? {
            tracing::info!(
                "{} tenants idle here{}",
                self.running.len(),
                crate::outputs::peak_memory_note()
            );
            return Ok(true);
        }
        if !played {
            std::thread::sleep(Duration::from_millis(self.config.poll_ms.min(250)));
        }
        Ok(false)
    }

    /// Drops every tenant without storing anything, its lease given up.
    fn let_go(&mut self) {
        for running in self.running.drain(..) {
            let name = &running.tenant.name;
            if !running.lost {
                self.leases.release(self.connection, name, &running.held);
            }
            let _ = fs::remove_dir_all(self.scratch.join(name));
        }
    }

    /// Renews if the last renewal was [`RENEW_EVERY`] ago; whether it did.
    fn renew_if_due(&mut self, renewed: &mut Instant) -> Result<bool> {
        if renewed.elapsed() < RENEW_EVERY {
            return Ok(false);
        }
        self.renew()?;
        *renewed = Instant::now();
        Ok(true)
    }

    /// Heartbeat, every lease renewed (a tenant whose lease was lost is
    /// marked, and dropped after the round), and the share counted again.
    fn renew(&mut self) -> Result<()> {
        self.leases.heartbeat(self.connection)?;
        for running in &mut self.running {
            let name = running.tenant.name.clone();
            if !running.lost
                && !self
                    .leases
                    .renew(self.connection, &name, &mut running.held)?
            {
                tracing::warn!(tenant = %name, "tenant {name}: its lease was lost (this instance stalled past {LEASE_TIME:?}); dropped here");
                running.lost = true;
            }
        }
        let live = self.leases.live_instances(self.connection)?;
        self.share = self.config.tenants.len().div_ceil(live);
        Ok(())
    }

    /// Swap requests in the bucket for the tenants held here, handed to
    /// them as request files (their builds fetched from the object store);
    /// their answers written back.
    fn sync_swaps(&mut self) -> Result<()> {
        for running in &self.running {
            let answers = self
                .scratch
                .join(&running.tenant.name)
                .join(deploy::SWAPS_DIR)
                .join(deploy::ANSWERS_DIR);
            let Ok(entries) = fs::read_dir(&answers) else {
                continue;
            };
            for entry in entries.filter_map(|entry| entry.ok()) {
                let path = entry.path();
                let Some(key) = bucket_key(&path) else {
                    continue;
                };
                let answer: SwapAnswer = serde_json::from_slice(&fs::read(&path)?)
                    .with_context(|| format!("{}: not an answer", path.display()))?;
                self.swaps.answer(self.connection, &key, answer)?;
                fs::remove_file(&path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
        }
        let held = |tenant: &str| {
            self.running
                .iter()
                .any(|running| running.tenant.name == tenant)
        };
        for (name, key, entry) in self.swaps.pending(self.connection, held)? {
            let dir = self.scratch.join(&name);
            let swaps = dir.join(deploy::SWAPS_DIR);
            let file = format!("{BUCKET_PREFIX}{key}.json");
            if swaps.join(&file).exists() || swaps.join(deploy::ANSWERS_DIR).join(&file).exists() {
                continue;
            }
            // The build goes straight into the tenant's kept builds.
            let component = match &entry.component {
                Some(digest) => {
                    let builds = Builds::of_tenant(&dir);
                    if !builds.path(digest).exists() {
                        let bytes = self.states.fetch_build(self.connection, digest)?;
                        builds.keep_bytes(&bytes)?;
                    }
                    Some(builds.path(digest))
                }
                None => None,
            };
            let request = SwapRequest {
                rule: entry.rule,
                component,
                parameters: entry.parameters,
            };
            deploy::queue_as(&dir, &file, &request)?;
            tracing::info!(tenant = %name, "tenant {name}: swap request {key} handed over");
        }
        Ok(())
    }

    /// Takes free tenants until this instance runs its share; whether it took any.
    fn take_up_to(&mut self) -> Result<bool> {
        let mut took = false;
        for entry in &self.config.tenants {
            if self.running.len() >= self.share {
                break;
            }
            if self
                .running
                .iter()
                .any(|running| running.tenant.name == entry.name)
            {
                continue;
            }
            if let Some(running) = self.take(entry)? {
                tracing::info!(tenant = %entry.name, "tenant {} taken with epoch {}", entry.name, running.held.epoch);
                self.running.push(running);
                took = true;
            }
        }
        Ok(took)
    }

    /// Takes `entry`'s tenant if its lease is free: the lease with the next
    /// epoch, the pointer raised to it (fencing the previous holder out), its
    /// latest checkpoint restored.
    fn take(&mut self, entry: &super::config::TenantConfig) -> Result<Option<Running>> {
        let name = &entry.name;
        let (pointer, revision) = self.states.pointer(self.connection, name)?;
        let epoch = pointer.epoch + 1;
        let Some(held) = self.leases.acquire(self.connection, name, epoch)? else {
            return Ok(None);
        };
        let raised = Pointer {
            epoch,
            ..pointer.clone()
        };
        let Some(pointer_revision) =
            self.states
                .swap_pointer(self.connection, name, &raised, revision)?
        else {
            // Another instance moved between the read and the lease.
            self.leases.release(self.connection, name, &held);
            return Ok(None);
        };
        let dir = self.scratch.join(name);
        match &pointer.object {
            Some(object) => self.states.download(self.connection, object, &dir)?,
            None => {
                let _ = fs::remove_dir_all(&dir);
            }
        }
        // Requests handed over by the previous holder name its scratch
        // folder: handed over again from the bucket.
        for (request, _) in deploy::requests(&dir)? {
            if is_from_bucket(&request) {
                let _ = fs::remove_file(&request);
            }
        }
        let io = Io::Cluster(Arc::clone(self.connection));
        let tenant = Tenant::start(entry, &self.scratch, &io, self.host, &mut self.components)
            .with_context(|| format!("tenant {}", printable(name)))?;
        Ok(Some(Running {
            stored: (tenant.generation(), pointer.object),
            stored_at: Instant::now(),
            tenant,
            held,
            lost: false,
            pointer_revision,
        }))
    }

    /// Plays running tenant `index`'s new messages, and stores its
    /// checkpoint if it moved and the last was stored [`STORE_EVERY`] ago;
    /// whether there was anything to play.
    fn play(&mut self, index: usize) -> Result<bool> {
        let running = &mut self.running[index];
        if running.lost {
            return Ok(false);
        }
        let played = running
            .tenant
            .poll(self.host, &mut self.components)
            .with_context(|| format!("tenant {}", running.tenant.name))?;
        if running.stored_at.elapsed() >= STORE_EVERY {
            self.store(index)?;
        }
        Ok(played)
    }

    /// Stores running tenant `index`'s checkpoint if it moved since it was
    /// stored last; a refused pointer (another holder) drops the tenant.
    fn store(&mut self, index: usize) -> Result<()> {
        let running = &mut self.running[index];
        let generation = running.tenant.generation();
        if generation == running.stored.0 || running.lost {
            return Ok(());
        }
        let name = running.tenant.name.clone();
        let object = format!("{name}.{}.{generation}", running.held.epoch);
        self.states
            .upload(self.connection, &self.scratch.join(&name), &object)?;
        let (position, watermark) = running.tenant.position();
        let pointer = Pointer {
            epoch: running.held.epoch,
            object: Some(object.clone()),
            position,
            watermark,
        };
        match self.states.swap_pointer(
            self.connection,
            &name,
            &pointer,
            running.pointer_revision,
        )? {
            Some(revision) => {
                running.pointer_revision = revision;
                if let Some(old) = running.stored.1.replace(object) {
                    self.states.delete(self.connection, &old);
                }
                running.stored.0 = generation;
                running.stored_at = Instant::now();
            }
            None => {
                tracing::warn!(tenant = %name, "tenant {name}: another instance holds it now; dropped here");
                self.states.delete(self.connection, &object);
                running.lost = true;
            }
        }
        Ok(())
    }

    /// Stores the last running tenant's checkpoint and gives its lease up.
    fn give_up_last(&mut self) -> Result<()> {
        let index = self.running.len() - 1;
        self.store(index)?;
        if let Some(running) = self.running.pop() {
            let name = &running.tenant.name;
            if !running.lost {
                self.leases.release(self.connection, name, &running.held);
                tracing::info!(tenant = %name, "tenant {name} given up for another instance");
            }
            let _ = fs::remove_dir_all(self.scratch.join(name));
        }
        Ok(())
    }

    /// Whether every tenant of the config is held by some instance.
    fn all_held(&self) -> Result<bool> {
        for entry in &self.config.tenants {
            let here = self
                .running
                .iter()
                .any(|running| running.tenant.name == entry.name);
            if !here && !self.leases.is_held(self.connection, &entry.name)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Stores every checkpoint, gives every lease up, says goodbye.
    fn leave(&mut self) {
        while !self.running.is_empty() {
            if let Err(error) = self.give_up_last() {
                let message = format!("{error:#}");
                tracing::warn!("{}", printable(&message));
                // The lease is left to expire.
                self.running.pop();
            }
        }
        self.leases.leave(self.connection);
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

/// A name for this instance, unique among those alive: the process and the
/// moment it started.
fn instance_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{:x}-{}", nanos, std::process::id())
}

/// How a request file handed over from the swap bucket is named.
const BUCKET_PREFIX: &str = "kv-";

/// Whether a request file came from the swap bucket.
fn is_from_bucket(request: &std::path::Path) -> bool {
    bucket_key(request).is_some()
}

/// The bucket key of a request or answer file handed over from it.
fn bucket_key(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let key = name.strip_prefix(BUCKET_PREFIX)?.strip_suffix(".json")?;
    Some(key.to_owned())
}
