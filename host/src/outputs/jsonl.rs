//! The project's own alert records: one JSON object per line, the fields of
//! `host-cli.md` in its order so two runs can be diffed.

use asim_rule_core::{Alert, DetailValue, Entity};
use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{Evaluation, Objects};
use crate::time;

/// An alert as `host-cli.md` lists its fields, in that order, and its id.
pub struct AlertRecord<'a> {
    pub evaluation: &'a Evaluation<'a>,
    pub alert: &'a Alert,
    pub id: Option<String>,
    /// Entities and custom details nested, or as JSON text (columnar outputs).
    pub objects: Objects,
}

impl Serialize for AlertRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (rule, alert) = (self.evaluation.rule, self.alert);
        let mut map = serializer.serialize_map(Some(14 + usize::from(self.id.is_some())))?;
        map.serialize_entry("RuleId", &rule.id)?;
        map.serialize_entry("RuleName", &rule.name)?;
        map.serialize_entry("RuleVersion", &rule.version)?;
        map.serialize_entry("AlertName", &alert.name)?;
        map.serialize_entry("Description", &alert.description)?;
        map.serialize_entry("Severity", rule.severity.as_str())?;
        map.serialize_entry("Tactics", &rule.tactics)?;
        map.serialize_entry("Techniques", &rule.techniques)?;
        map.serialize_entry("StartTime", &time::format(alert.start_time))?;
        map.serialize_entry("EndTime", &time::format(alert.end_time))?;
        map.serialize_entry("EvaluatedAt", &time::format(self.evaluation.at))?;
        let entities: Vec<EntityRecord> = alert.entities.iter().map(EntityRecord).collect();
        map.serialize_entry("Entities", &self.objects.wrap(&entities))?;
        let details = Details(&alert.custom_details);
        map.serialize_entry("CustomDetails", &self.objects.wrap(&details))?;
        map.serialize_entry("Tenant", self.evaluation.tenant)?;
        if let Some(id) = &self.id {
            map.serialize_entry("AlertId", id)?;
        }
        map.end()
    }
}

struct EntityRecord<'a>(&'a Entity);

impl Serialize for EntityRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.0.properties.len()))?;
        map.serialize_entry("Type", &self.0.kind)?;
        for (name, value) in &self.0.properties {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Custom details as a JSON object, in the rule's order.
pub struct Details<'a>(pub &'a [(String, DetailValue)]);

impl Serialize for Details<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, &DetailRecord(value))?;
        }
        map.end()
    }
}

/// One custom detail's value: numbers stay numbers, times are RFC 3339.
pub struct DetailRecord<'a>(pub &'a DetailValue);

/// Largest integer an f64 holds exactly.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

impl Serialize for DetailRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            DetailValue::None => serializer.serialize_none(),
            DetailValue::Text(text) => serializer.serialize_str(text),
            DetailValue::Integer(value) => serializer.serialize_i64(*value),
            // A whole real prints as Kusto prints it: 80, not 80.0.
            DetailValue::Real(value) if value.fract() == 0.0 && value.abs() < EXACT_INTEGER => {
                serializer.serialize_i64(*value as i64)
            }
            DetailValue::Real(value) => serializer.serialize_f64(*value),
            DetailValue::Time(value) => serializer.serialize_str(&time::format(*value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::tests::{evaluation_of, rule};
    use asim_rule_core::RuleMetadata;

    #[test]
    fn records_keep_the_documented_field_order_and_number_types() {
        let rule = RuleMetadata {
            tactics: vec!["Discovery".into()],
            ..rule("1.0.0")
        };
        let alert = Alert {
            name: "n".into(),
            description: "d".into(),
            start_time: 0,
            end_time: 1_000_000,
            entities: vec![Entity::ip("198.51.100.7")],
            custom_details: vec![
                ("Zeta".into(), DetailValue::Real(80.0)),
                ("Alpha".into(), DetailValue::Real(2.5)),
                ("None".into(), DetailValue::None),
            ],
        };
        let evaluation = evaluation_of(&rule);
        let json = serde_json::to_string(&AlertRecord {
            evaluation: &evaluation,
            alert: &alert,
            id: None,
            objects: Objects::Nested,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"RuleId":"id","RuleName":"Rule","RuleVersion":"1.0.0","AlertName":"n","Description":"d","Severity":"High","Tactics":["Discovery"],"Techniques":[],"StartTime":"1970-01-01T00:00:00Z","EndTime":"1970-01-01T00:00:01Z","EvaluatedAt":"1970-01-01T01:00:00Z","Entities":[{"Type":"ip","Address":"198.51.100.7"}],"CustomDetails":{"Zeta":80,"Alpha":2.5,"None":null},"Tenant":"default"}"#
        );
    }
}
