//! What an evaluation returns.

use crate::time::Timestamp;

/// An entity an alert is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Sentinel entity type: `ip`, `host`, ...
    pub kind: String,
    /// Identifying properties, in order, e.g. (`Address`, `198.51.100.7`).
    pub properties: Vec<(String, String)>,
}

impl Entity {
    /// An IP entity.
    pub fn ip(address: &str) -> Entity {
        Entity {
            kind: "ip".into(),
            properties: vec![("Address".into(), address.into())],
        }
    }
}

/// The value of a custom detail.
#[derive(Clone, Debug, PartialEq)]
pub enum DetailValue {
    /// No value.
    None,
    /// A string.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// An instant.
    Time(Timestamp),
}

impl From<&str> for DetailValue {
    fn from(text: &str) -> DetailValue {
        DetailValue::Text(text.to_owned())
    }
}

impl From<Option<f64>> for DetailValue {
    fn from(value: Option<f64>) -> DetailValue {
        value.map_or(DetailValue::None, DetailValue::Real)
    }
}

impl From<Option<Timestamp>> for DetailValue {
    fn from(value: Option<Timestamp>) -> DetailValue {
        value.map_or(DetailValue::None, DetailValue::Time)
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Display name, placeholders filled.
    pub name: String,
    /// Description, placeholders filled.
    pub description: String,
    /// Start of the span the alert covers.
    pub start_time: Timestamp,
    /// End of the span the alert covers.
    pub end_time: Timestamp,
    /// Entities.
    pub entities: Vec<Entity>,
    /// Custom details, in the rule's order.
    pub custom_details: Vec<(String, DetailValue)>,
}

impl Alert {
    /// The custom detail `name`, if the alert has it.
    pub fn detail(&self, name: &str) -> Option<&DetailValue> {
        self.custom_details
            .iter()
            .find(|(detail, _)| detail == name)
            .map(|(_, value)| value)
    }
}
