//! The pages' content.

use axum::http::StatusCode;
use maud::{html, Markup};

use super::layout::{badge, copyable};
use crate::builds::RebuildAgreement;
use crate::keys::KeyView;
use crate::platform::Platform;
use crate::releases::{ReleaseDetail, ReleasePage};
use crate::statements::SignatureView;

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn agreement(rebuilds: &RebuildAgreement) -> Markup {
    let class = match (rebuilds.agreeing, rebuilds.rebuilders) {
        (_, 0) => "unknown",
        (k, n) if k == n => "good",
        _ => "bad",
    };
    html! { span class={ "badge " (class) } { (rebuilds.agreeing) " of " (rebuilds.rebuilders) " rebuilders agree" } }
}

/// `limit` is the page size asked for, kept by the link to older releases.
pub fn releases(page: &ReleasePage, limit: Option<i64>) -> Markup {
    html! {
        h1 { "Releases" }
        @if page.releases.is_empty() {
            p.muted { "No release has been recorded yet." }
        } @else {
            table #releases {
                thead { tr { th { "Version" } th { "Package" } th { "Commit" } th { "Recorded" } th { "Rebuilds" } th { "Signatures" } } }
                tbody {
                    @for release in &page.releases {
                        tr {
                            td { a href={ "/releases/" (release.version) } { (release.version) } }
                            td { (release.package) }
                            td { code { (short(&release.commit)) } }
                            td { (release.created_at.format("%Y-%m-%d %H:%M UTC")) }
                            td { (agreement(&release.rebuilds)) }
                            td { @if release.signatures > 0 { (badge("verified")) " " (release.signatures) } @else { (badge("unsigned")) } }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = &page.next_cursor {
            p { a href={ "/?before=" (cursor) @if let Some(limit) = limit { "&limit=" (limit) } } { "Older releases →" } }
        }
    }
}

pub fn release(release: &ReleaseDetail) -> Markup {
    let summary = &release.summary;
    html! {
        h1 { (summary.package) " " (summary.version) }
        table.facts {
            tr { th { "Source" } td { code { (summary.repository) } " @ " (copyable(&summary.commit)) } }
            tr { th { "SOURCE_DATE_EPOCH" } td { code { (summary.source_date_epoch) } } }
            tr { th { "Recipe SHA-256" } td { (copyable(&release.recipe_sha256)) } }
            tr { th { "Recorded" } td { (summary.created_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        h2 { "Signatures" }
        section #signatures {
            @if release.manifest.signatures.is_empty() {
                p { (badge("unsigned")) " The release statement has no verified signature yet." }
            }
            @for signature in &release.manifest.signatures {
                p {
                    @if signature.key_revoked_at.is_some() { (badge("revoked")) " " } @else { (badge("verified")) " " }
                    "Signed by " code { (signature.key_fingerprint) }
                    @for uid in &signature.user_ids { " (" (uid) ")" }
                    " on " (signature.signed_at.format("%Y-%m-%d %H:%M:%S UTC"))
                }
            }
            p {
                "Statement SHA-256 " (copyable(&release.manifest.sha256)) " · "
                @if let Some(index) = release.statements.iter().find(|s| s.statement.sha256 == release.manifest.sha256).and_then(|s| s.log_index) {
                    span #log-index { "transparency log index " a href={ "/v1/log/bundle?index=" (index) } { (index) } } " · "
                }
                a href=(release.manifest.url) { "release statement" } " · "
                a href={ (release.manifest.url) "/signatures" } { "signatures" }
            }
        }
        (status_history(release))
        h2 { "Measurements" }
        @for set in &release.measurement_sets {
            h3 { "Set " code { (set.name) } " " (badge(&set.status)) }
            p.muted.provenance {
                "From the " (set.statement.kind) " statement "
                a.hex href=(set.statement.url) { (short(&set.statement.sha256)) }
                @if let Some(changed) = &set.status_statement {
                    "; status from the " (changed.kind) " statement "
                    a.hex href=(changed.url) { (short(&changed.sha256)) }
                }
            }
            @for platform in Platform::ALL {
                @let measurements: Vec<_> = set.measurements.iter().filter(|m| m.platform == platform).collect();
                @if !measurements.is_empty() {
                    section.platform data-platform=(platform.as_str()) {
                        h4 { (platform.title()) " " span.muted { "(" (platform.as_str()) ")" } }
                        @for measurement in measurements {
                            table.measurement {
                                @if !measurement.parameters.is_empty() {
                                    tr { th { "Parameters" } td { @for (name, value) in &measurement.parameters {
                                        code { (name) "=" (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) } " "
                                    } } }
                                }
                                @for (register, value) in &measurement.registers {
                                    tr { th { (register) } td { (copyable(value.as_str().unwrap_or_default())) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Builds " (agreement(&summary.rebuilds)) }
        table #builds {
            thead { tr { th { "Builder" } th { "Status" } th { "Reported" } th { "Artifacts" } } }
            tbody {
                @for build in &release.builds {
                    tr {
                        td { (build.builder) @if build.kind == "official" { " " span.muted { "(release pipeline)" } } }
                        td { (badge(&build.status)) @if let Some(summary) = &build.summary { br; span.muted { (summary) } } }
                        td { (build.reported_at.format("%Y-%m-%d %H:%M UTC")) }
                        td { @for artifact in &build.artifacts {
                            div { code { (artifact.name) } " " (badge(&artifact.status)) " " span.hex.muted { (short(&artifact.sha256)) } }
                        } }
                    }
                }
            }
        }
        p { a href={ "/v1/releases/" (summary.version) } { "This release as JSON" } }
    }
}

fn signers(signatures: &[SignatureView]) -> Markup {
    html! {
        @if signatures.is_empty() { (badge("unsigned")) }
        @for signature in signatures {
            div {
                @if signature.key_revoked_at.is_some() { (badge("revoked")) " " }
                code { (signature.key_fingerprint) }
                @for uid in &signature.user_ids { " (" (uid) ")" }
            }
        }
    }
}

/// Each status statement about the release's sets, oldest first.
fn status_history(release: &ReleaseDetail) -> Markup {
    let changes: Vec<_> = release
        .statements
        .iter()
        .filter_map(|statement| Some((statement, statement.status_change.as_ref()?)))
        .collect();
    html! {
        h2 { "Status history" }
        @if changes.is_empty() {
            p.muted #status-history { "No measurement set has changed status since the release." }
        } @else {
            table #status-history {
                thead { tr { th { "Recorded" } th { "Set" } th { "Status" } th { "Reason" } th { "Signed by" } th { "Statement" } th { "Log index" } } }
                tbody {
                    @for (statement, change) in changes {
                        tr {
                            td { (statement.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            td { code { (change.measurement_set) } }
                            td { (badge(&change.status)) }
                            td { (change.reason) }
                            td { (signers(&statement.signatures)) }
                            td { a.hex href=(statement.statement.url) { (short(&statement.statement.sha256)) } }
                            td { @if let Some(index) = statement.log_index { (index) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn keys(keys: &[KeyView]) -> Markup {
    html! {
        h1 { "Signing keys" }
        @if keys.is_empty() {
            p.muted { "No key is registered." }
        } @else {
            table #keys {
                thead { tr { th { "Fingerprint" } th { "User IDs" } th { "Algorithm" } th { "Status" } } }
                tbody {
                    @for key in keys {
                        tr {
                            td { a href={ "/v1/keys/" (key.fingerprint) } { code { (key.fingerprint) } } }
                            td { @for uid in &key.user_ids { div { (uid) } } }
                            td { (key.algorithm) }
                            td { @if key.revoked_at.is_some() { (badge("revoked")) } @else { (badge("active")) } }
                        }
                    }
                }
            }
        }
    }
}

pub fn error(status: StatusCode, message: &str) -> Markup {
    html! {
        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
        p #error { (message) }
        p { a href="/" { "All releases" } }
    }
}
