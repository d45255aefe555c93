//! The container launch a token reports against the launch a release published with its image
//! digest (`gcp-confidential-space` parameters `args` and `env`, each a JSON list of strings).
//!
//! The digest binds the image, and the image's config holds its command; but the launcher runs
//! `tee-cmd` and adds `tee-env-*` when the image's labels allow it, and a prover started with other
//! flags (no `--tls`, fetched parameters) is another program. So a set that publishes its launch
//! matches only a token whose `args` are exactly those, whose environment holds every published
//! entry, and which reports no operator override. A set without launch parameters (published
//! before mpr recorded them) is matched on the digest alone.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ContainerClaims;

/// Why a token's launch is not the set's, or what was compared when it is.
pub fn check_launch(
    container: &ContainerClaims,
    parameters: &BTreeMap<String, Value>,
) -> Result<Option<String>, String> {
    let args = published_list(parameters, "args")?;
    let env = published_list(parameters, "env")?;
    if args.is_none() && env.is_none() {
        return Ok(None);
    }
    if let Some(overridden) = container.cmd_override.as_ref().filter(|c| !c.is_empty()) {
        return Err(format!(
            "the operator overrode the command ({overridden:?}, metadata tee-cmd)"
        ));
    }
    if let Some(overridden) = container.env_override.as_ref().filter(|e| !e.is_empty()) {
        let names: Vec<&String> = overridden.keys().collect();
        return Err(format!(
            "the operator overrode the environment ({names:?}, metadata tee-env-*)"
        ));
    }
    if let Some(args) = &args {
        match &container.args {
            Some(ran) if ran == args => {}
            Some(ran) => return Err(format!("the container ran {ran:?}, not {args:?}")),
            None => {
                return Err(
                    "the token does not say what the container ran (submods.container.args)"
                        .to_owned(),
                )
            }
        }
    }
    if let Some(env) = &env {
        let ran = container.env.clone().unwrap_or_default();
        for entry in env {
            let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
            match ran.get(name) {
                Some(found) if found == value => {}
                Some(found) => {
                    return Err(format!(
                        "the container's {name} is {found:?}, not {value:?}"
                    ))
                }
                None => return Err(format!("the container's environment has no {name}")),
            }
        }
    }
    Ok(Some(format!(
        "launched as published ({} arguments, {} environment entries, no overrides)",
        args.map_or(0, |a| a.len()),
        env.map_or(0, |e| e.len())
    )))
}

/// A parameter holding a JSON list of strings, as the registry stores it; anything else in a
/// signed statement is the publisher's error and matches nothing.
fn published_list(
    parameters: &BTreeMap<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, String> {
    let Some(value) = parameters.get(name) else {
        return Ok(None);
    };
    value
        .as_str()
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .map(Some)
        .ok_or_else(|| format!("the set's {name} parameter is not a JSON list of strings: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(args: &[&str], env: &[(&str, &str)]) -> ContainerClaims {
        ContainerClaims {
            image_reference: None,
            image_digest: None,
            args: Some(args.iter().map(|a| a.to_string()).collect()),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            env_override: None,
            cmd_override: None,
        }
    }

    fn published(args: &str, env: &str) -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("args".to_owned(), Value::from(args)),
            ("env".to_owned(), Value::from(env)),
        ])
    }

    const ARGS: &str = r#"["/usr/local/bin/proof-server","--port","6300"]"#;
    const ENV: &str = r#"["RUST_LOG=info"]"#;

    #[test]
    fn the_published_launch_matches_with_the_launchers_additions() {
        let ran = container(
            &["/usr/local/bin/proof-server", "--port", "6300"],
            &[("RUST_LOG", "info"), ("HOSTNAME", "prover-1")],
        );
        let outcome = check_launch(&ran, &published(ARGS, ENV)).unwrap();
        assert!(outcome.unwrap().contains("3 arguments, 1 environment"));
        assert_eq!(check_launch(&ran, &BTreeMap::new()), Ok(None));
    }

    #[test]
    fn other_arguments_environment_or_any_override_do_not_match() {
        let args = ["/usr/local/bin/proof-server", "--port", "6300"];
        let other = container(
            &["/usr/local/bin/proof-server", "--port", "7000"],
            &[("RUST_LOG", "info")],
        );
        assert!(check_launch(&other, &published(ARGS, ENV))
            .unwrap_err()
            .contains("7000"));
        let debug = container(&args, &[("RUST_LOG", "trace")]);
        assert!(check_launch(&debug, &published(ARGS, ENV))
            .unwrap_err()
            .contains("trace"));
        let missing = container(&args, &[]);
        assert!(check_launch(&missing, &published(ARGS, ENV))
            .unwrap_err()
            .contains("no RUST_LOG"));
        let mut overridden = container(&args, &[("RUST_LOG", "info")]);
        overridden.env_override = Some(BTreeMap::from([("EXTRA".to_owned(), "1".to_owned())]));
        assert!(check_launch(&overridden, &published(ARGS, ENV))
            .unwrap_err()
            .contains("tee-env"));
        let mut commanded = container(&args, &[("RUST_LOG", "info")]);
        commanded.cmd_override = Some(vec!["--port".to_owned(), "6300".to_owned()]);
        assert!(check_launch(&commanded, &published(ARGS, ENV))
            .unwrap_err()
            .contains("tee-cmd"));
        let mut silent = container(&args, &[("RUST_LOG", "info")]);
        silent.args = None;
        assert!(check_launch(&silent, &published(ARGS, ENV))
            .unwrap_err()
            .contains("submods.container.args"));
        let broken = published("--port 6300", ENV);
        assert!(check_launch(&container(&args, &[]), &broken)
            .unwrap_err()
            .contains("not a JSON list"));
    }
}
