//! The explanation as people read it: one paragraph per changed register, digests shortened (the
//! JSON form keeps them whole).

use std::fmt;

use super::{Cause, Explanation, RegisterChange};

/// Hex runs this long are digests: shown by their first 12 digits.
const LONG_HEX: usize = 20;
const SHOWN_HEX: usize = 12;

fn short(value: &str) -> String {
    value
        .split(' ')
        .map(|word| {
            let hex = word.strip_prefix("sha256:").unwrap_or(word);
            if hex.len() >= LONG_HEX && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                let kept = word.len() - hex.len() + SHOWN_HEX;
                format!("{}…", &word[..kept])
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn side(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or_else(|| "(absent)".to_owned(), short)
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.old, &self.new) {
            (None, Some(new)) => write!(f, "{} added: {}", self.input, short(new)),
            (Some(old), None) => write!(f, "{} removed (was {})", self.input, short(old)),
            _ => write!(
                f,
                "{}: {} -> {}",
                self.input,
                side(&self.old),
                side(&self.new)
            ),
        }
    }
}

impl fmt::Display for RegisterChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} changed ({} -> {})",
            self.measurement,
            side(&self.old),
            side(&self.new)
        )?;
        match &self.unexplained {
            Some(why) => write!(f, ": {why}")?,
            None => {
                write!(f, " because these inputs changed:")?;
                for cause in &self.causes {
                    write!(f, "\n    {cause}")?;
                }
            }
        }
        let only_recipe = self.causes.iter().all(|c| c.input.starts_with("recipe"));
        if only_recipe && !self.not_recorded.is_empty() {
            write!(
                f,
                "\n    not in what was compared: {}",
                self.not_recorded.join("; ")
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut line = |f: &mut fmt::Formatter<'_>, text: &dyn fmt::Display| {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{text}")
        };
        if self.is_empty() {
            return line(f, &"no measurement changed");
        }
        for change in &self.changes {
            line(f, change)?;
        }
        for only in &self.only_in_a {
            line(f, &format_args!("measured only in A: {only}"))?;
        }
        for only in &self.only_in_b {
            line(f, &format_args!("measured only in B: {only}"))?;
        }
        for advice in &self.advice {
            line(f, &format_args!("note: {advice}"))?;
        }
        Ok(())
    }
}
