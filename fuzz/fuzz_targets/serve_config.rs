//! Any text as a `serve` config, in either mode: never a panic; a config
//! accepted has tenants whose names can name a directory and print safely,
//! budgets that fit in bytes, and spools and alert files only without the
//! cluster.

#![no_main]

use std::path::Path;

use asim_rules::serve::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for cluster in [false, true] {
        if let Ok(config) = Config::parse(Path::new("/fuzz/serve.toml"), text, cluster) {
            check(&config, cluster);
        }
    }
});

fn check(config: &Config, cluster: bool) {
    assert!(!config.tenants.is_empty());
    for tenant in &config.tenants {
        let name = &tenant.name;
        assert!(!name.is_empty() && !name.starts_with('.'), "{name:?}");
        assert!(
            !name.contains(['/', '\\']) && !name.contains(char::is_control),
            "{name:?}"
        );
        assert!(tenant.budgets.budgets().is_ok());
        assert!(!tenant.rules.is_empty());
        assert_eq!(tenant.spool.is_some(), !cluster);
        assert_eq!(tenant.alerts.is_some(), !cluster);
    }
}
