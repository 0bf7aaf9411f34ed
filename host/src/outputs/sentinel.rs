//! An alert in the columns of Sentinel's `SecurityAlert` table, so alerts can
//! be sent to a custom table through the Logs Ingestion API. Entities,
//! extended properties and techniques are JSON text, as Sentinel stores them.
//! docs/OUTPUTS.md has the mapping.

use asim_rule_core::{Alert, DetailValue};
use serde::Serialize;

use super::{jsonl::DetailRecord, Evaluation};
use crate::time;

/// An alert as a `SecurityAlert` row.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityAlert<'a> {
    time_generated: String,
    display_name: &'a str,
    alert_name: &'a str,
    alert_severity: &'static str,
    description: &'a str,
    provider_name: &'static str,
    vendor_name: &'static str,
    product_name: &'static str,
    product_component_name: &'static str,
    alert_type: &'a str,
    system_alert_id: &'a str,
    vendor_original_id: &'a str,
    status: &'static str,
    is_incident: bool,
    start_time: String,
    end_time: String,
    processing_end_time: String,
    compromised_entity: &'a str,
    tactics: String,
    techniques: String,
    sub_techniques: String,
    entities: String,
    extended_properties: String,
}

/// What Sentinel's scheduled rules put in `ExtendedProperties`, and the tenant.
#[derive(Serialize)]
struct ExtendedProperties<'a> {
    #[serde(rename = "Analytic Rule Ids")]
    rule_ids: String,
    #[serde(rename = "Analytic Rule Name")]
    rule_name: &'a str,
    #[serde(rename = "Analytic Rule Version")]
    rule_version: &'a str,
    #[serde(rename = "Custom Details")]
    custom_details: String,
    #[serde(rename = "Tenant")]
    tenant: &'a str,
}

impl<'a> SecurityAlert<'a> {
    /// The row of `alert`; `id` is its [`super::alert_id`].
    pub fn new(evaluation: &'a Evaluation<'a>, alert: &'a Alert, id: &'a str) -> SecurityAlert<'a> {
        let rule = evaluation.rule;
        let (sub_techniques, techniques): (Vec<&String>, Vec<&String>) = rule
            .techniques
            .iter()
            .partition(|technique| technique.contains('.'));
        let evaluated_at = time::format(evaluation.at);
        let extended = ExtendedProperties {
            rule_ids: json_text(&[&rule.id]),
            rule_name: &rule.name,
            rule_version: &rule.version,
            custom_details: json_text(&SentinelDetails(&alert.custom_details)),
            tenant: evaluation.tenant,
        };
        SecurityAlert {
            time_generated: evaluated_at.clone(),
            display_name: &alert.name,
            alert_name: &alert.name,
            alert_severity: rule.severity.as_str(),
            description: &alert.description,
            provider_name: "asim-rules",
            vendor_name: "asim-rules",
            product_name: "asim-rules",
            product_component_name: "Scheduled Alerts",
            alert_type: &rule.id,
            system_alert_id: id,
            vendor_original_id: id,
            status: "New",
            is_incident: false,
            start_time: time::format(alert.start_time),
            end_time: time::format(alert.end_time),
            processing_end_time: evaluated_at,
            compromised_entity: alert
                .entities
                .first()
                .and_then(|entity| entity.properties.first())
                .map_or("", |(_, value)| value.as_str()),
            tactics: rule.tactics.join(", "),
            techniques: json_text(&techniques),
            sub_techniques: json_text(&sub_techniques),
            entities: json_text(&Entities(alert)),
            extended_properties: json_text(&extended),
        }
    }
}

/// JSON text of a value that always serialises (no maps with non-text keys).
fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Sentinel's entity list: each entity with a `$id` (from 2: 1 is the alert).
struct Entities<'a>(&'a Alert);

impl Serialize for Entities<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let mut list = serializer.serialize_seq(Some(self.0.entities.len()))?;
        for (index, entity) in self.0.entities.iter().enumerate() {
            list.serialize_element(&EntityWithId { index, entity })?;
        }
        return list.end();

        struct EntityWithId<'a> {
            index: usize,
            entity: &'a asim_rule_core::Entity,
        }
        impl Serialize for EntityWithId<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let properties = &self.entity.properties;
                let mut map = serializer.serialize_map(Some(2 + properties.len()))?;
                map.serialize_entry("$id", &(self.index + 2).to_string())?;
                map.serialize_entry("Type", &self.entity.kind)?;
                for (name, value) in properties {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

/// Custom details as Sentinel writes them: each value a list of texts.
struct SentinelDetails<'a>(&'a [(String, DetailValue)]);

impl Serialize for SentinelDetails<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            let texts: Vec<String> = match value {
                DetailValue::None => vec![],
                DetailValue::Text(text) => vec![text.clone()],
                DetailValue::Time(time) => vec![time::format(*time)],
                // A number as JSON lines print it (80, not 80.0).
                DetailValue::Integer(_) | DetailValue::Real(_) => {
                    vec![serde_json::to_string(&DetailRecord(value)).unwrap_or_default()]
                }
            };
            map.serialize_entry(name, &texts)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::tests::{evaluation_of, rule};
    use asim_rule_core::{Entity, RuleMetadata};

    #[test]
    fn a_row_has_sentinels_columns_and_json_text_where_sentinel_has_it() {
        let rule = RuleMetadata {
            tactics: vec!["CommandAndControl".into(), "Discovery".into()],
            techniques: vec!["T1071".into(), "T1071.001".into()],
            ..rule("1.0.0")
        };
        let alert = Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 0,
            end_time: 1_000_000,
            entities: vec![Entity::ip("198.51.100.7")],
            custom_details: vec![
                ("Score".into(), DetailValue::Real(80.0)),
                ("Dvc".into(), DetailValue::Text("fw".into())),
                ("Gone".into(), DetailValue::None),
            ],
        };
        let evaluation = evaluation_of(&rule);
        let row = serde_json::to_value(SecurityAlert::new(&evaluation, &alert, "abc")).unwrap();
        assert_eq!(row["SystemAlertId"], "abc");
        assert_eq!(row["AlertSeverity"], "High");
        assert_eq!(row["TimeGenerated"], "1970-01-01T01:00:00Z");
        assert_eq!(row["EndTime"], "1970-01-01T00:00:01Z");
        assert_eq!(row["CompromisedEntity"], "198.51.100.7");
        assert_eq!(row["Tactics"], "CommandAndControl, Discovery");
        assert_eq!(row["Techniques"], r#"["T1071"]"#);
        assert_eq!(row["SubTechniques"], r#"["T1071.001"]"#);
        assert_eq!(
            row["Entities"],
            r#"[{"$id":"2","Type":"ip","Address":"198.51.100.7"}]"#
        );
        let extended: serde_json::Value =
            serde_json::from_str(row["ExtendedProperties"].as_str().unwrap()).unwrap();
        assert_eq!(extended["Analytic Rule Ids"], r#"["id"]"#);
        assert_eq!(
            extended["Custom Details"],
            r#"{"Score":["80"],"Dvc":["fw"],"Gone":[]}"#
        );
        assert_eq!(extended["Tenant"], "default");
    }
}
