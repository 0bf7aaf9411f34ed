//! An alert as an OCSF Detection Finding (class 2004, OCSF 1.5.0): what
//! Amazon Security Lake, Splunk and Tenzir ingest. docs/OUTPUTS.md has the
//! mapping, field by field.

use asim_rule_core::{Alert, DetailValue, Severity, Timestamp};
use serde::{Serialize, Serializer};

use super::{jsonl::Details, Evaluation, Objects};

/// The OCSF version the findings follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.5.0";
/// Detection Finding.
pub const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;
/// Activity 1, Create: each alert is a new finding.
const ACTIVITY_ID: u32 = 1;

/// An alert as a Detection Finding, its custom details in `unmapped`.
#[derive(Serialize)]
pub struct Finding<'a> {
    activity_id: u32,
    activity_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    type_uid: u32,
    type_name: &'static str,
    severity_id: u8,
    severity: &'static str,
    status_id: u8,
    status: &'static str,
    is_alert: bool,
    /// When the finding was made: the evaluation time.
    time: i64,
    start_time: i64,
    end_time: i64,
    message: &'a str,
    finding_info: FindingInfo<'a>,
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observables: Vec<Observable>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidences: Vec<Evidence<'a>>,
    unmapped: Unmapped<'a>,
}

#[derive(Serialize)]
struct FindingInfo<'a> {
    uid: String,
    title: &'a str,
    desc: &'a str,
    types: [&'a str; 1],
    created_time: i64,
    first_seen_time: i64,
    last_seen_time: i64,
    analytic: Analytic<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attacks: Vec<Attack<'a>>,
}

#[derive(Serialize)]
struct Analytic<'a> {
    uid: &'a str,
    name: &'a str,
    version: &'a str,
    /// 1, Rule.
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// One tactic or one technique: a Sentinel rule lists both but does not say
/// which technique serves which tactic, so none is paired with another.
#[derive(Serialize, Default)]
struct Attack<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tactic: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    technique: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_technique: Option<Named<'a>>,
}

#[derive(Serialize)]
struct Named<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    version: &'static str,
    product: Product,
    tenant_uid: &'a str,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Observable {
    name: String,
    /// 2, IP Address.
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Evidence<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_endpoint: Option<Endpoint<'a>>,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<i64>,
}

/// The custom details, as an object or (columnar outputs) its JSON text.
struct Unmapped<'a> {
    details: &'a [(String, DetailValue)],
    objects: Objects,
}

impl Serialize for Unmapped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.objects
            .wrap(&Details(self.details))
            .serialize(serializer)
    }
}

impl<'a> Finding<'a> {
    /// The finding of `alert`; `id` is its [`super::alert_id`].
    pub fn new(
        evaluation: &'a Evaluation<'a>,
        alert: &'a Alert,
        id: String,
        objects: Objects,
    ) -> Finding<'a> {
        let rule = evaluation.rule;
        let (severity_id, severity) = severity(rule.severity);
        let evidence = evidence(&alert.custom_details);
        let observables = observables(&evidence, alert);
        Finding {
            activity_id: ACTIVITY_ID,
            activity_name: "Create",
            category_uid: CATEGORY_UID,
            category_name: "Findings",
            class_uid: CLASS_UID,
            class_name: "Detection Finding",
            type_uid: CLASS_UID * 100 + ACTIVITY_ID,
            type_name: "Detection Finding: Create",
            severity_id,
            severity,
            status_id: 1,
            status: "New",
            is_alert: true,
            time: millis(evaluation.at),
            start_time: millis(alert.start_time),
            end_time: millis(alert.end_time),
            message: &alert.name,
            finding_info: FindingInfo {
                uid: id,
                title: &alert.name,
                desc: &alert.description,
                types: [&rule.name],
                created_time: millis(evaluation.at),
                first_seen_time: millis(alert.start_time),
                last_seen_time: millis(alert.end_time),
                analytic: Analytic {
                    uid: &rule.id,
                    name: &rule.name,
                    version: &rule.version,
                    type_id: 1,
                    kind: "Rule",
                },
                attacks: attacks(&rule.tactics, &rule.techniques),
            },
            metadata: Metadata {
                version: OCSF_VERSION,
                product: Product {
                    name: "asim-rules",
                    vendor_name: "asim-rules",
                    version: env!("CARGO_PKG_VERSION"),
                },
                tenant_uid: evaluation.tenant,
            },
            observables,
            evidences: evidence.into_iter().collect(),
            unmapped: Unmapped {
                details: &alert.custom_details,
                objects,
            },
        }
    }
}

/// OCSF times are milliseconds since the epoch.
fn millis(time: Timestamp) -> i64 {
    time.div_euclid(1000)
}

fn severity(severity: Severity) -> (u8, &'static str) {
    match severity {
        Severity::Informational => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
    }
}

/// The session's endpoints, from the ASIM names among the custom details
/// (`SrcIpAddr`, `DstIpAddr`, `SrcPortNumber`, `DstPortNumber`).
fn evidence(details: &[(String, DetailValue)]) -> Option<Evidence<'_>> {
    let text = |name: &str| {
        details.iter().find_map(|(key, value)| match value {
            DetailValue::Text(text) if key == name && !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
    };
    let port = |name: &str| {
        details.iter().find_map(|(key, value)| match value {
            DetailValue::Integer(port) if key == name => Some(*port),
            _ => None,
        })
    };
    let endpoint = |ip: &str, port_name: &str| {
        text(ip).map(|ip| Endpoint {
            ip,
            port: port(port_name),
        })
    };
    let evidence = Evidence {
        src_endpoint: endpoint("SrcIpAddr", "SrcPortNumber"),
        dst_endpoint: endpoint("DstIpAddr", "DstPortNumber"),
    };
    (evidence.src_endpoint.is_some() || evidence.dst_endpoint.is_some()).then_some(evidence)
}

/// Every IP of the finding, once: the evidence's endpoints by their place in
/// the finding, then the alert's IP entities that are not among them.
fn observables(evidence: &Option<Evidence>, alert: &Alert) -> Vec<Observable> {
    let ip = |name: String, value: &str| Observable {
        name,
        type_id: 2,
        kind: "IP Address",
        value: value.to_owned(),
    };
    let mut observables = Vec::new();
    if let Some(evidence) = evidence {
        for (side, endpoint) in [
            ("src_endpoint", &evidence.src_endpoint),
            ("dst_endpoint", &evidence.dst_endpoint),
        ] {
            if let Some(endpoint) = endpoint {
                observables.push(ip(format!("evidences[0].{side}.ip"), endpoint.ip));
            }
        }
    }
    for entity in alert.entities.iter().filter(|entity| entity.kind == "ip") {
        for (_, address) in entity
            .properties
            .iter()
            .filter(|(name, _)| name == "Address")
        {
            if !observables.iter().any(|seen| seen.value == *address) {
                observables.push(ip("entity.ip".to_owned(), address));
            }
        }
    }
    observables
}

/// The rule's tactics (with their MITRE ATT&CK ids where Sentinel's name has
/// one) and techniques (`T1071.001` as a sub-technique of `T1071`).
fn attacks<'a>(tactics: &'a [String], techniques: &'a [String]) -> Vec<Attack<'a>> {
    let tactics = tactics.iter().map(|tactic| {
        let (uid, name) = tactic_of(tactic).unwrap_or((None, tactic));
        Attack {
            tactic: Some(Named {
                uid,
                name: Some(name),
            }),
            ..Attack::default()
        }
    });
    let techniques = techniques.iter().map(|technique| {
        let named = |uid| Named {
            uid: Some(uid),
            name: None,
        };
        match technique.split_once('.') {
            Some((parent, _)) => Attack {
                technique: Some(named(parent)),
                sub_technique: Some(named(technique)),
                ..Attack::default()
            },
            None => Attack {
                technique: Some(named(technique)),
                ..Attack::default()
            },
        }
    });
    tactics.chain(techniques).collect()
}

/// Sentinel's tactic names, their MITRE ATT&CK ids and names.
const TACTICS: [(&str, Option<&str>, &str); 17] = [
    ("Reconnaissance", Some("TA0043"), "Reconnaissance"),
    (
        "ResourceDevelopment",
        Some("TA0042"),
        "Resource Development",
    ),
    ("InitialAccess", Some("TA0001"), "Initial Access"),
    ("Execution", Some("TA0002"), "Execution"),
    ("Persistence", Some("TA0003"), "Persistence"),
    (
        "PrivilegeEscalation",
        Some("TA0004"),
        "Privilege Escalation",
    ),
    ("DefenseEvasion", Some("TA0005"), "Defense Evasion"),
    ("CredentialAccess", Some("TA0006"), "Credential Access"),
    ("Discovery", Some("TA0007"), "Discovery"),
    ("LateralMovement", Some("TA0008"), "Lateral Movement"),
    ("Collection", Some("TA0009"), "Collection"),
    ("Exfiltration", Some("TA0010"), "Exfiltration"),
    ("CommandAndControl", Some("TA0011"), "Command and Control"),
    ("Impact", Some("TA0040"), "Impact"),
    (
        "ImpairProcessControl",
        Some("TA0106"),
        "Impair Process Control",
    ),
    (
        "InhibitResponseFunction",
        Some("TA0107"),
        "Inhibit Response Function",
    ),
    ("PreAttack", None, "PreAttack"),
];

fn tactic_of(sentinel: &str) -> Option<(Option<&'static str>, &'static str)> {
    TACTICS
        .iter()
        .find(|(name, _, _)| *name == sentinel)
        .map(|(_, uid, name)| (*uid, *name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::tests::{evaluation_of, rule};
    use asim_rule_core::{Entity, RuleMetadata};

    #[test]
    fn a_finding_carries_the_class_the_rule_and_the_session_endpoints() {
        let rule = attacking_rule();
        let alert = Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 1_500,
            end_time: 2_000_000,
            entities: vec![Entity::ip("198.51.100.7"), Entity::ip("203.0.113.9")],
            custom_details: vec![
                ("SrcIpAddr".into(), DetailValue::Text("10.0.0.1".into())),
                ("DstIpAddr".into(), DetailValue::Text("198.51.100.7".into())),
                ("DstPortNumber".into(), DetailValue::Integer(443)),
                ("Score".into(), DetailValue::Real(2.5)),
            ],
        };
        let evaluation = evaluation_of(&rule);
        let finding = Finding::new(&evaluation, &alert, "id".into(), Objects::Nested);
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["class_uid"], 2004);
        assert_eq!(json["type_uid"], 200_401);
        assert_eq!(json["severity_id"], 4);
        assert_eq!(json["start_time"], 1);
        assert_eq!(json["end_time"], 2_000);
        assert_eq!(json["time"], 3_600_000);
        assert_eq!(json["finding_info"]["analytic"]["uid"], "id");
        assert_eq!(
            json["finding_info"]["attacks"],
            serde_json::json!([
                {"tactic": {"uid": "TA0011", "name": "Command and Control"}},
                {"tactic": {"name": "Unheard"}},
                {"technique": {"uid": "T1071"}},
                {"technique": {"uid": "T1071"}, "sub_technique": {"uid": "T1071.001"}},
            ])
        );
        assert_eq!(
            json["evidences"],
            serde_json::json!([{"src_endpoint": {"ip": "10.0.0.1"}, "dst_endpoint": {"ip": "198.51.100.7", "port": 443}}])
        );
        let observed: Vec<(&str, &str)> = json["observables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["name"].as_str().unwrap(), o["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            observed,
            [
                ("evidences[0].src_endpoint.ip", "10.0.0.1"),
                ("evidences[0].dst_endpoint.ip", "198.51.100.7"),
                ("entity.ip", "203.0.113.9"),
            ]
        );
        assert_eq!(json["unmapped"]["Score"], 2.5);
        assert_eq!(json["metadata"]["tenant_uid"], "default");
    }

    #[test]
    fn columnar_findings_carry_unmapped_as_json_text() {
        let rule = attacking_rule();
        let alert = Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 0,
            end_time: 0,
            entities: vec![],
            custom_details: vec![("Score".into(), DetailValue::Real(80.0))],
        };
        let evaluation = evaluation_of(&rule);
        let finding = Finding::new(&evaluation, &alert, "id".into(), Objects::Text);
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["unmapped"], r#"{"Score":80}"#);
        assert!(json.get("evidences").is_none() && json.get("observables").is_none());
    }

    fn attacking_rule() -> RuleMetadata {
        RuleMetadata {
            tactics: vec!["CommandAndControl".into(), "Unheard".into()],
            techniques: vec!["T1071".into(), "T1071.001".into()],
            ..rule("1.0.0")
        }
    }
}
