//! The frame around every page: head, styles, navigation and the copy-button script.

use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; background: #fafbfc; }
header { background: #14213d; color: #fff; padding: .8rem 1.5rem; display: flex; gap: 1.5rem; align-items: baseline; }
header a { color: #fff; text-decoration: none; } header .brand { font-weight: 700; font-size: 1.2rem; }
main { padding: 1rem 1.5rem; max-width: 72rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; background: #fff; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e1e4e8; vertical-align: top; }
code, .hex { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .8rem; font-size: .8rem; font-weight: 600; }
.good, .active, .verified { background: #dcffe4; color: #165c26; }
.bad, .fail, .revoked { background: #ffdce0; color: #86181d; }
.unknown, .deprecated, .unsigned { background: #f1f1f1; color: #444; }
button.copy { font-size: .75rem; margin-left: .4rem; cursor: pointer; }
section.platform { margin-bottom: 1rem; }
table.facts th, table.measurement th { width: 11rem; white-space: nowrap; }
table.measurement code { display: inline-block; word-break: normal; overflow-wrap: anywhere; }
.muted { color: #586069; }
"#;

const COPY_SCRIPT: &str = r#"
document.addEventListener('click', function (event) {
  var button = event.target.closest('button.copy');
  if (!button) return;
  var text = button.getAttribute('data-copy');
  navigator.clipboard.writeText(text).then(function () {
    button.textContent = 'copied';
    setTimeout(function () { button.textContent = 'copy'; }, 1500);
  });
});
"#;

pub fn page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mpr registry" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "mpr registry" }
                    a href="/" { "Releases" }
                    a href="/keys" { "Signing keys" }
                    a href="/openapi.json" { "API" }
                }
                main { (content) }
                script { (PreEscaped(COPY_SCRIPT)) }
            }
        }
    }
}

/// A value with a button that copies it.
pub fn copyable(value: &str) -> Markup {
    html! {
        span.hex { (value) }
        button.copy type="button" data-copy=(value) title="Copy to the clipboard" { "copy" }
    }
}

pub fn badge(text: &str) -> Markup {
    html! { span class={ "badge " (text.to_ascii_lowercase()) } { (text) } }
}
