//! Reading Chromium's serialised DOM.

/// An element in the HTML that Chromium serialises: lower-case names, attribute values in
/// double quotes with `&`, `"`, `<`, `>` escaped, text with `&`, `<`, `>` escaped. Just enough of
/// a parser to find elements by tag, id, class and attribute and read their text.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
    /// The markup between the start and the end tag.
    pub inner: &'a str,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];
const RAW_TEXT: &[&str] = &["script", "style"];

impl<'a> Element<'a> {
    pub fn document(html: &'a str) -> Element<'a> {
        Element {
            tag: "#document".to_owned(),
            attrs: Vec::new(),
            inner: html,
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|classes| classes.split_ascii_whitespace().any(|c| c == class))
    }

    /// Every element inside this one, in document order, that matches a simple selector:
    /// `tag`, `#id`, `.class`, `[attr]`, `[attr=value]`, combined as in `section.platform[data-platform=x]`.
    pub fn select(&self, selector: &str) -> Vec<Element<'a>> {
        let selector = Selector::parse(selector);
        descendants(self.inner)
            .into_iter()
            .filter(|element| selector.matches(element))
            .collect()
    }

    /// The one element inside this one that matches; panics when there is none or more.
    pub fn one(&self, selector: &str) -> Element<'a> {
        let mut found = self.select(selector);
        assert_eq!(
            found.len(),
            1,
            "expected one {selector} in <{}>: {}",
            self.tag,
            self.inner
        );
        found.remove(0)
    }

    /// The text content, with white space collapsed as a reader sees it.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let mut rest = self.inner;
        while let Some(start) = rest.find('<') {
            text.push_str(&rest[..start]);
            // Elements separate words, as they do on screen (near enough for these pages).
            text.push(' ');
            rest = &rest[start..];
            let end = rest.find('>').map_or(rest.len(), |end| end + 1);
            let opening = !rest[1..].starts_with('/');
            let tag = tag_name(&rest[1..]);
            rest = &rest[end..];
            if opening && RAW_TEXT.contains(&tag) {
                rest = &rest[end_tag(rest, tag).map_or(rest.len(), |(_, after)| after)..];
            }
        }
        text.push_str(rest);
        decode(&text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

struct Selector {
    tag: Option<String>,
    id: Option<String>,
    classes: Vec<String>,
    attrs: Vec<(String, Option<String>)>,
}

impl Selector {
    fn parse(selector: &str) -> Selector {
        let mut parsed = Selector {
            tag: None,
            id: None,
            classes: Vec::new(),
            attrs: Vec::new(),
        };
        let name_end = selector.find(['#', '.', '[']).unwrap_or(selector.len());
        if name_end > 0 {
            parsed.tag = Some(selector[..name_end].to_owned());
        }
        let mut rest = &selector[name_end..];
        while !rest.is_empty() {
            if let Some(attr) = rest.strip_prefix('[') {
                let end = attr
                    .find(']')
                    .unwrap_or_else(|| panic!("unclosed [ in {selector}"));
                let (name, value) = match attr[..end].split_once('=') {
                    Some((name, value)) => (name, Some(value.trim_matches('"').to_owned())),
                    None => (&attr[..end], None),
                };
                parsed.attrs.push((name.to_owned(), value));
                rest = &attr[end + 1..];
            } else {
                let end = rest[1..]
                    .find(['#', '.', '['])
                    .map_or(rest.len(), |end| end + 1);
                let name = rest[1..end].to_owned();
                if rest.starts_with('#') {
                    parsed.id = Some(name);
                } else {
                    parsed.classes.push(name);
                }
                rest = &rest[end..];
            }
        }
        parsed
    }

    fn matches(&self, element: &Element) -> bool {
        self.tag.as_ref().is_none_or(|tag| *tag == element.tag)
            && self
                .id
                .as_ref()
                .is_none_or(|id| element.attr("id") == Some(id))
            && self.classes.iter().all(|class| element.has_class(class))
            && self.attrs.iter().all(|(name, value)| match value {
                Some(value) => element.attr(name) == Some(value),
                None => element.attr(name).is_some(),
            })
    }
}

/// All elements in `html`, nested ones included, in document order.
fn descendants(html: &str) -> Vec<Element<'_>> {
    let mut elements = Vec::new();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        let rest = &html[start + 1..];
        if rest.starts_with("!--") {
            at = start + rest.find("-->").map_or(rest.len(), |end| end + 4);
            continue;
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            at = start + 1;
            continue;
        }
        let (tag, attrs, after) = start_tag(html, start + 1);
        let inner = if VOID.contains(&tag.as_str()) {
            ""
        } else {
            let end = end_tag(&html[after..], &tag).map_or(html.len(), |(end, _)| after + end);
            &html[after..end]
        };
        // The text of scripts and styles is no markup.
        at = if RAW_TEXT.contains(&tag.as_str()) {
            after + inner.len()
        } else {
            after
        };
        elements.push(Element { tag, attrs, inner });
    }
    elements
}

fn tag_name(markup: &str) -> &str {
    let markup = markup.strip_prefix('/').unwrap_or(markup);
    &markup[..markup
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(markup.len())]
}

/// The start tag whose name begins at `at`: its name, attributes and where its content begins.
fn start_tag(html: &str, at: usize) -> (String, Vec<(String, String)>, usize) {
    let tag = tag_name(&html[at..]).to_ascii_lowercase();
    let mut at = at + tag.len();
    let mut attrs = Vec::new();
    let bytes = html.as_bytes();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        match bytes.get(at) {
            None => return (tag, attrs, at),
            Some(b'>') => return (tag, attrs, at + 1),
            Some(b'/') => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let name_end = html[at..]
            .find(|c: char| c.is_ascii_whitespace() || "=>/".contains(c))
            .map_or(html.len(), |end| at + end);
        let name = html[at..name_end].to_ascii_lowercase();
        at = name_end;
        let mut value = String::new();
        if bytes.get(at) == Some(&b'=') {
            at += 1;
            let quote = bytes.get(at).copied().filter(|q| *q == b'"' || *q == b'\'');
            let value_end = match quote {
                Some(quote) => {
                    at += 1;
                    html[at..]
                        .find(quote as char)
                        .map_or(html.len(), |end| at + end)
                }
                None => html[at..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map_or(html.len(), |end| at + end),
            };
            value = decode(&html[at..value_end]);
            at = value_end + usize::from(quote.is_some());
        }
        attrs.push((name, value));
    }
}

/// Where the end tag that closes an open `tag` starts in `html` (the markup after the start tag)
/// and where it ends, counting nested elements of the same name.
fn end_tag(html: &str, tag: &str) -> Option<(usize, usize)> {
    let mut depth = 1;
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        let rest = &html[start + 1..];
        let closing = rest.starts_with('/');
        let name = tag_name(rest);
        let after = start + rest.find('>').map_or(rest.len(), |end| end + 2);
        if name.eq_ignore_ascii_case(tag) {
            if closing {
                depth -= 1;
                if depth == 0 {
                    return Some((start, after));
                }
            } else if !RAW_TEXT.contains(&tag) {
                depth += 1;
            }
            at = after;
        } else if !closing && RAW_TEXT.contains(&name) {
            at = after + end_tag(&html[after..], name).map_or(html.len() - after, |(_, end)| end);
        } else {
            at = start + 1;
        }
    }
    None
}

fn decode(text: &str) -> String {
    text.replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
