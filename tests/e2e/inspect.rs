//! `asim-rules inspect`.

use crate::support::{component, success};

#[test]
fn inspect_shows_the_ti_rule_as_its_spec_describes_it() {
    let text = success(&["inspect", component("ti-map-ip").to_str().unwrap()]);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_owned()
    };
    assert_eq!(field("rule id"), "e2399891-383c-4caf-ae67-68a008b9f89e");
    assert_eq!(field("short name"), "ti-map-ip");
    assert_eq!(field("severity"), "Medium");
    assert_eq!(field("frequency"), "1h");
    assert_eq!(field("session lookback"), "1h");
    assert_eq!(field("indicator lookback"), "14d");
    assert_eq!(
        field("session columns"),
        "TimeGenerated, SrcIpAddr, DstIpAddr, Dvc, EventProduct, EventVendor"
    );
    assert!(field("indicator columns").contains("EmailSourceIpAddress"));
    assert_eq!(field("imports"), "(none)");
    for function in [
        "metadata",
        "configure",
        "ingest-sessions",
        "ingest-indicators",
        "evaluate",
        "snapshot",
        "restore",
    ] {
        assert!(
            text.contains(&format!("asim:rules/rule@0.1.0#{function}")),
            "{function} in:\n{text}"
        );
    }
    assert_eq!(field("parameters"), "(none)");
}
