//! The sandbox: compiles rule components, checks them against the contract and
//! runs each deployment in its own store.
//!
//! Three lifetimes, three types: [`RuleHost`] (one wasmtime engine and linker
//! per process), [`LoadedRule`] (a compiled, checked component and its
//! metadata), [`RuleInstance`] (one deployment, holding the rule's window
//! state). A trap is an error of the call that hit it and never reaches the
//! host's own state; a rule's refusal (`result::err`) is reported as the rule's
//! message.

pub mod bindings;
mod convert;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use asim_rule_core::{schema, Alert, Batch, RuleMetadata, Timestamp};
use wasmtime::{
    component::{types::ComponentItem, Component, Linker},
    Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder,
};

use bindings::{Detection, DetectionPre};

/// Linear memory one rule instance may grow to, unless configured otherwise.
/// A day of TI matching over a million sessions an hour stays far below it.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The interface a rule component must export.
pub const RULE_INTERFACE: &str = "asim:rules/rule@0.1.0";

/// What a store carries for the host: its resource limits and the memory the
/// rule holds. Rules get no files, environment, clock, randomness or sockets:
/// the linker defines nothing.
pub struct Sandbox {
    limits: StoreLimits,
    memory_bytes: usize,
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes += desired.saturating_sub(current);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The process-wide engine and linker.
pub struct RuleHost {
    engine: Engine,
    linker: Linker<Sandbox>,
    memory_limit: usize,
}

/// What a component file declares, whether or not it can run here.
pub struct ComponentDescription {
    /// Interfaces and functions the component imports.
    pub imports: Vec<String>,
    /// Interfaces and functions it exports.
    pub exports: Vec<String>,
}

/// A compiled component that implements the contract, ready to instantiate.
pub struct LoadedRule {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// What the rule declares.
    pub metadata: RuleMetadata,
    pre: DetectionPre<Sandbox>,
}

/// One deployment of a rule, with its own store and state.
pub struct RuleInstance {
    store: Store<Sandbox>,
    bindings: Detection,
    metadata: RuleMetadata,
}

impl RuleHost {
    /// An engine whose instances may each use `memory_limit` bytes of memory.
    pub fn new(memory_limit: usize) -> Result<RuleHost> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine =
            anyhow_result(Engine::new(&config)).context("starting the WebAssembly engine")?;
        let linker = Linker::new(&engine);
        Ok(RuleHost {
            engine,
            linker,
            memory_limit,
        })
    }

    /// Compiles the component at `path` and lists what it imports and exports.
    pub fn describe(&self, path: &Path) -> Result<(Component, ComponentDescription)> {
        let component = anyhow_result(Component::from_file(&self.engine, path))
            .with_context(|| format!("{}: not a loadable WebAssembly component", path.display()))?;
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .flat_map(|(name, item)| match item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(&self.engine)
                    .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(function, _)| format!("{name}#{function}"))
                    .collect(),
                _ => vec![name.to_owned()],
            })
            .collect();
        Ok((component, ComponentDescription { imports, exports }))
    }

    /// Loads a rule: compiles it, refuses it when it imports anything (the
    /// host grants no capability) or does not implement the contract, and
    /// reads and checks its metadata.
    pub fn load(&self, path: &Path) -> Result<LoadedRule> {
        let (component, description) = self.describe(path)?;
        if !description.imports.is_empty() {
            bail!(
                "{}: the component imports {}, which asim-rules does not provide (rules get no \
                 host capabilities)",
                path.display(),
                description.imports.join(", ")
            );
        }
        let pre = anyhow_result(
            self.linker
                .instantiate_pre(&component)
                .and_then(DetectionPre::new),
        )
        .with_context(|| format!("{}: does not implement {RULE_INTERFACE}", path.display()))?;
        let mut store = self.store();
        let bindings = anyhow_result(pre.instantiate(&mut store))
            .with_context(|| format!("{}: instantiating", path.display()))?;
        let metadata = anyhow_result(bindings.asim_rules_rule().call_metadata(&mut store))
            .with_context(|| format!("{}: metadata() trapped", path.display()))?;
        let metadata = convert::metadata(metadata)
            .and_then(check_metadata)
            .with_context(|| format!("{}: invalid metadata", path.display()))?;
        Ok(LoadedRule {
            path: path.to_owned(),
            metadata,
            pre,
        })
    }

    fn store(&self) -> Store<Sandbox> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.memory_limit)
            .instances(1)
            .build();
        let sandbox = Sandbox {
            limits,
            memory_bytes: 0,
        };
        let mut store = Store::new(&self.engine, sandbox);
        store.limiter(|sandbox| sandbox);
        store
    }
}

/// Refuses metadata a host cannot schedule or feed.
fn check_metadata(metadata: RuleMetadata) -> Result<RuleMetadata> {
    if metadata.frequency <= 0 || metadata.session_lookback <= 0 {
        bail!("frequency and session lookback must be positive");
    }
    if metadata
        .indicator_lookback
        .is_some_and(|lookback| lookback <= 0)
    {
        bail!("indicator lookback must be positive");
    }
    for column in &metadata.session_columns {
        schema::session_column(column).ok_or_else(|| {
            anyhow!("asks for session column {column}, which the host does not know")
        })?;
    }
    for column in &metadata.indicator_columns {
        schema::indicator_column(column).ok_or_else(|| {
            anyhow!("asks for indicator column {column}, which the host does not know")
        })?;
    }
    Ok(metadata)
}

impl LoadedRule {
    /// A fresh deployment configured with `parameters` (name, value).
    pub fn instantiate(
        &self,
        host: &RuleHost,
        parameters: &[(String, String)],
    ) -> Result<RuleInstance> {
        let name = &self.metadata.short_name;
        let mut store = host.store();
        let bindings = anyhow_result(self.pre.instantiate(&mut store))
            .with_context(|| format!("rule {name}: instantiating"))?;
        anyhow_result(
            bindings
                .asim_rules_rule()
                .call_configure(&mut store, parameters),
        )
        .with_context(|| format!("rule {name}: configure trapped"))?
        .map_err(|message| anyhow!("rule {name} refused its parameters: {message}"))?;
        Ok(RuleInstance {
            store,
            bindings,
            metadata: self.metadata.clone(),
        })
    }
}

impl RuleInstance {
    /// What the rule declares.
    pub fn metadata(&self) -> &RuleMetadata {
        &self.metadata
    }

    /// Linear memory the rule has grown to, in bytes (it never shrinks).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory_bytes
    }

    /// Feeds session rows.
    pub fn ingest_sessions(&mut self, batch: Batch) -> Result<()> {
        let batch = convert::batch(batch);
        let result = self
            .bindings
            .asim_rules_rule()
            .call_ingest_sessions(&mut self.store, &batch);
        self.outcome("ingest-sessions", result)
    }

    /// Feeds indicator rows.
    pub fn ingest_indicators(&mut self, batch: Batch) -> Result<()> {
        let batch = convert::batch(batch);
        let result = self
            .bindings
            .asim_rules_rule()
            .call_ingest_indicators(&mut self.store, &batch);
        self.outcome("ingest-indicators", result)
    }

    /// Feeds pre-aggregated session counts.
    pub fn ingest_summaries(&mut self, batch: Batch) -> Result<()> {
        let batch = convert::batch(batch);
        let result = self
            .bindings
            .asim_rules_rule()
            .call_ingest_summaries(&mut self.store, &batch);
        self.outcome("ingest-summaries", result)
    }

    /// Evaluates the rule at `at`.
    pub fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>> {
        let result = self
            .bindings
            .asim_rules_rule()
            .call_evaluate(&mut self.store, at);
        let alerts = self.outcome("evaluate", result)?;
        Ok(alerts.into_iter().map(convert::alert).collect())
    }

    /// The rule's counters, by name.
    pub fn stats(&mut self) -> Result<Vec<(String, u64)>> {
        let name = &self.metadata.short_name;
        anyhow_result(self.bindings.asim_rules_rule().call_stats(&mut self.store))
            .with_context(|| format!("rule {name}: stats trapped"))
    }

    /// The rule's state.
    pub fn snapshot(&mut self) -> Result<Vec<u8>> {
        let name = &self.metadata.short_name;
        anyhow_result(
            self.bindings
                .asim_rules_rule()
                .call_snapshot(&mut self.store),
        )
        .with_context(|| format!("rule {name}: snapshot trapped"))
    }

    /// Replaces the rule's state.
    pub fn restore(&mut self, state: &[u8]) -> Result<()> {
        let result = self
            .bindings
            .asim_rules_rule()
            .call_restore(&mut self.store, state);
        self.outcome("restore", result)
    }

    fn outcome<T>(&self, call: &str, result: wasmtime::Result<Result<T, String>>) -> Result<T> {
        let name = &self.metadata.short_name;
        anyhow_result(result)
            .with_context(|| format!("rule {name}: {call} trapped"))?
            .map_err(|message| anyhow!("rule {name}: {call} failed: {message}"))
    }
}

/// wasmtime's own error as an `anyhow::Error`, so context can be added.
fn anyhow_result<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}
