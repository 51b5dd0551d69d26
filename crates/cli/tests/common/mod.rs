//! Helpers shared by the CLI's integration tests.

/// A JSON array dump's elements as sorted texts, so that dumps of hash
/// maps (whose order follows the map's hash seed) compare whatever the
/// order; panics, naming `what`, when `text` is not a JSON array.
pub fn sorted_json_elements(text: &str, what: &str) -> Vec<String> {
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {text}"));
    let mut elements: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a JSON array: {text}"))
        .iter()
        .map(ToString::to_string)
        .collect();
    elements.sort();
    elements
}
