//! What the registry's pages show, read from their DOM: links, copy buttons, measurement tables
//! and the releases list.

use serde_json::Value;

use super::Element;

pub fn versions(page: &Element) -> Vec<String> {
    page.one("#releases")
        .one("tbody")
        .select("tr")
        .iter()
        .map(|row| row.one("a").text())
        .collect()
}

pub fn older_link(page: &Element) -> Option<String> {
    let links: Vec<_> = page
        .select("a")
        .into_iter()
        .filter(|a| a.text().starts_with("Older releases"))
        .collect();
    assert!(links.len() <= 1, "one Older releases link at most");
    links
        .first()
        .map(|a| a.attr("href").expect("href").to_owned())
}

/// The href of the one link in `within` whose text is `text`.
pub fn link(within: &Element, text: &str) -> String {
    let links: Vec<_> = within
        .select("a")
        .into_iter()
        .filter(|a| a.text() == text)
        .collect();
    assert_eq!(links.len(), 1, "one link {text:?} in {}", within.inner);
    links[0].attr("href").expect("href").to_owned()
}

/// `value` is shown in `within` next to a copy button that copies exactly it.
pub fn assert_copyable(within: &Element, value: &str) {
    let buttons: Vec<_> = within
        .select("button.copy")
        .into_iter()
        .filter(|b| b.attr("data-copy") == Some(value))
        .collect();
    assert_eq!(
        buttons.len(),
        1,
        "one copy button for {value} in {}",
        within.inner
    );
    assert_eq!(buttons[0].text(), "copy");
    assert_eq!(buttons[0].attr("type"), Some("button"));
    let shown: Vec<_> = within
        .select("span.hex")
        .into_iter()
        .filter(|s| s.text() == value)
        .collect();
    assert_eq!(shown.len(), 1, "{value} shown once in {}", within.inner);
}

/// A measurement table's registers as `{"PCR0": value, ...}`, checking that each row's shown
/// value and its copy button's value are the same.
pub fn registers_of(table: &Element) -> Value {
    let mut registers = serde_json::Map::new();
    for row in table.select("tr") {
        let name = row.one("th").text();
        if name == "Parameters" {
            continue;
        }
        let cell = row.one("td");
        let shown = cell.one("span.hex").text();
        assert_eq!(
            cell.one("button.copy").attr("data-copy"),
            Some(shown.as_str()),
            "row {name}"
        );
        registers.insert(name, Value::String(shown));
    }
    Value::Object(registers)
}
