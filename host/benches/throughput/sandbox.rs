//! The sandbox's own costs: instantiating a tenant-rule on demand and from
//! the pooling allocator, the CPU budget's epoch deadline on both rules, and
//! how many tenants (each with both rules) one host holds.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use asim_rule_core::Batch;
use asim_rules::engine::{Budgets, EngineOptions, LoadedRule, RuleHost};

use super::{ms, phases, root, Deployment, AT};

/// Tenants instantiated (each with both rules) for the capacity figure.
const TENANTS: u32 = 1000;

fn host(options: &EngineOptions) -> (RuleHost, LoadedRule, LoadedRule) {
    let budgets = Budgets {
        memory_bytes: 1 << 30,
        ..Budgets::default()
    };
    let host = RuleHost::with_options(budgets, options).unwrap();
    let load = |name: &str| {
        host.load(&root().join(format!("target/rules/{name}.wasm")))
            .unwrap()
    };
    let (ti, anomaly) = (load("ti-map-ip"), load("network-session-anomaly"));
    (host, ti, anomaly)
}

/// Resident memory of this process, bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

pub fn report(report: &mut String, ti_batches: (&[Batch], &[Batch]), anomaly_batches: &[Batch]) {
    writeln!(
        report,
        "\nSandbox costs (both rules as components, one core).\n"
    )
    .unwrap();

    // The CPU budget: epoch deadline armed on every call, or not at all.
    let on = host(&EngineOptions::default());
    let off = host(&EngineOptions {
        cpu_deadline: false,
        pooled_instances: None,
        ..EngineOptions::default()
    });
    let total = |times: [Duration; 3]| times.iter().sum::<Duration>();
    let (indicators, sessions) = ti_batches;
    for (label, pick, indicators, sessions) in [
        (
            "TI, 1 M sessions, 100 k indicators",
            0,
            indicators,
            sessions,
        ),
        (
            "anomaly, 1 M sessions over 14 days",
            1,
            &[][..],
            anomaly_batches,
        ),
    ] {
        let rule = |(host, ti, anomaly): &(RuleHost, LoadedRule, LoadedRule)| {
            let loaded = if pick == 0 { ti } else { anomaly };
            Deployment::Component(loaded.instantiate(host, &[]).unwrap())
        };
        let with = phases(&|| rule(&on), indicators, sessions).0;
        let without = phases(&|| rule(&off), indicators, sessions).0;
        writeln!(
            report,
            "- CPU budget on {label}: {} with the epoch deadline, {} without; on / off {:.2}",
            ms(total(with)),
            ms(total(without)),
            total(with).as_secs_f64() / total(without).as_secs_f64()
        )
        .unwrap();
    }
    drop((on, off));

    // Instantiation: on demand, and from a pool made once.
    let instantiate_all = |(host, ti, anomaly): &(RuleHost, LoadedRule, LoadedRule),
                           tenants: u32| {
        let started = Instant::now();
        let mut instances = Vec::new();
        for _ in 0..tenants {
            for rule in [ti, anomaly] {
                let mut instance = rule.instantiate(host, &[]).unwrap();
                instance.evaluate(AT).unwrap();
                instances.push(instance);
            }
        }
        (started.elapsed(), instances)
    };
    let on_demand = host(&EngineOptions::default());
    let (elapsed, instances) = instantiate_all(&on_demand, 100);
    let per_on_demand = elapsed / 200;
    drop(instances);
    drop(on_demand);

    let before = resident_bytes();
    let pooled = host(&EngineOptions {
        cpu_deadline: true,
        pooled_instances: Some(2 * TENANTS + 2),
        ..EngineOptions::default()
    });
    let (elapsed, instances) = instantiate_all(&pooled, TENANTS);
    let per_pooled = elapsed / (2 * TENANTS);
    let per_tenant = (resident_bytes().saturating_sub(before)) / u64::from(TENANTS);
    writeln!(
        report,
        "- Instantiating a tenant-rule (instantiate + configure + a first evaluation): \
         {:.0} µs on demand, {:.0} µs from the pool; pool / on demand {:.2}",
        per_on_demand.as_secs_f64() * 1e6,
        per_pooled.as_secs_f64() * 1e6,
        per_pooled.as_secs_f64() / per_on_demand.as_secs_f64()
    )
    .unwrap();
    writeln!(
        report,
        "- {TENANTS} tenants with both rules in one host (pooled): {} instances live, \
         {:.1} MiB resident per tenant, so {:.0} tenants in 24 GiB of resident memory",
        instances.len(),
        per_tenant as f64 / f64::from(1 << 20),
        (24u64 << 30) as f64 / per_tenant.max(1) as f64
    )
    .unwrap();
}
