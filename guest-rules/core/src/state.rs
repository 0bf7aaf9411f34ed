//! The envelope of a rule's snapshot: which rule, which format version, then
//! the state in postcard. A host can move a snapshot between instances and
//! versions; a rule refuses one it cannot read instead of misreading it.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    rule_id: String,
    format_version: u32,
    state: T,
}

#[derive(Deserialize)]
struct Header {
    rule_id: String,
    format_version: u32,
}

/// Encodes `state` of rule `rule_id` in format `format_version`.
pub fn encode<T: Serialize>(rule_id: &str, format_version: u32, state: &T) -> Vec<u8> {
    let envelope = Envelope {
        rule_id: rule_id.to_owned(),
        format_version,
        state,
    };
    // Serializing into a Vec fails only on a type postcard cannot represent,
    // which the rule's own tests would show; an empty snapshot then restores
    // to an error, never to a wrong state.
    postcard::to_allocvec(&envelope).unwrap_or_default()
}

/// Decodes a snapshot taken by [`encode`] for the same rule and format.
pub fn decode<T: DeserializeOwned>(
    rule_id: &str,
    format_version: u32,
    bytes: &[u8],
) -> Result<T, String> {
    let (header, _): (Header, _) = postcard::take_from_bytes(bytes)
        .map_err(|error| format!("not a rule snapshot: {error}"))?;
    if header.rule_id != rule_id {
        return Err(format!(
            "snapshot of rule {} cannot be restored into rule {rule_id}",
            header.rule_id
        ));
    }
    if header.format_version != format_version {
        return Err(format!(
            "snapshot format version {} is not the format this build reads ({format_version})",
            header.format_version
        ));
    }
    let envelope: Envelope<T> =
        postcard::from_bytes(bytes).map_err(|error| format!("corrupt snapshot: {error}"))?;
    Ok(envelope.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_rules_and_versions() {
        let bytes = encode("rule-a", 3, &vec![1u32, 2, 3]);
        assert_eq!(decode::<Vec<u32>>("rule-a", 3, &bytes).unwrap(), [1, 2, 3]);
        assert!(decode::<Vec<u32>>("rule-b", 3, &bytes)
            .unwrap_err()
            .contains("rule-a"));
        assert!(decode::<Vec<u32>>("rule-a", 4, &bytes)
            .unwrap_err()
            .contains("version 3"));
        assert!(decode::<Vec<u32>>("rule-a", 3, b"\xff\xff").is_err());
    }
}
