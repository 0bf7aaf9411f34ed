//! Any text as a `serve` config: never a panic; a config accepted has
//! tenants whose names can name a directory and print safely, and budgets
//! that fit in bytes.

#![no_main]

use std::path::Path;

use asim_rules::serve::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(Path::new("/fuzz/serve.toml"), text) else {
        return;
    };
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
    }
});
