//! The metadata section (type 5): identity information about the image. It is not measured, so it
//! never changes a PCR, but it is part of the file bytes and the CRC.
//!
//! Our writer stores AWS's `EifIdentityInfo`. The reader takes any JSON, since other tools may store
//! their own (AWS's reader accepts extra keys, and `null`), and keeps the text exactly as stored.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::EifError;

/// Mirrors AWS's `EifIdentityInfo`: the field order and JSON key names below are what makes our metadata
/// section byte-identical to EifBuilder's (compact `serde_json` output, keys in declaration order).
/// Every key is required, as in AWS's struct; unknown keys are ignored, as there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EifMetadata {
    #[serde(rename = "ImageName")]
    pub image_name: String,
    #[serde(rename = "ImageVersion")]
    pub image_version: String,
    #[serde(rename = "BuildMetadata")]
    pub build: BuildMetadata,
    /// nitro-cli stores the full `docker image inspect` output here.
    #[serde(rename = "DockerInfo")]
    pub docker_info: serde_json::Value,
    /// Free-form JSON; `null` when absent.
    #[serde(rename = "CustomMetadata")]
    pub custom: serde_json::Value,
}

/// Mirrors AWS's `EifBuildInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildMetadata {
    /// RFC 3339; see [`rfc3339_from_unix`] for a reproducible value.
    #[serde(rename = "BuildTime")]
    pub build_time: String,
    #[serde(rename = "BuildTool")]
    pub build_tool: String,
    #[serde(rename = "BuildToolVersion")]
    pub build_tool_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
}

impl EifMetadata {
    /// The exact bytes of the metadata section. The keys of `DockerInfo` and `CustomMetadata` are
    /// sorted, as AWS's crate writes them: serde_json keeps insertion order instead when any crate
    /// in the build turns on its `preserve_order` feature (dcap-qvl does), and the section's bytes
    /// must not depend on what else is linked.
    pub fn to_section_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut sorted = self.clone();
        sorted.docker_info.sort_all_objects();
        sorted.custom.sort_all_objects();
        serde_json::to_vec(&sorted)
    }
}

/// `EifIdentityInfo`'s keys, and `EifBuildInfo`'s: anything else is a key nitro-cli never shows.
const IDENTITY_KEYS: [&str; 5] = [
    "ImageName",
    "ImageVersion",
    "BuildMetadata",
    "DockerInfo",
    "CustomMetadata",
];
const BUILD_KEYS: [&str; 5] = [
    "BuildTime",
    "BuildTool",
    "BuildToolVersion",
    "OperatingSystem",
    "KernelVersion",
];

/// JSON text exactly as a file stores it (checked to be valid JSON): key order, spacing and number
/// spelling are kept, and it serialises verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJson(String);

impl StoredJson {
    /// Keeps `text` as it is, once it is known to be one JSON value.
    pub fn parse(text: &str) -> Result<StoredJson, serde_json::Error> {
        serde_json::from_str::<&RawValue>(text)?;
        Ok(StoredJson(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for StoredJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A metadata section as found in an EIF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EifMetadataSection {
    /// The section's JSON as stored.
    pub json: StoredJson,
    /// The identity fields nitro-cli shows, when the JSON has them all (AWS's `EifIdentityInfo`).
    pub identity: Option<EifMetadata>,
}

/// Reads a metadata section: any JSON is accepted. Also returns why the JSON is not exactly nitro-cli's
/// identity metadata, when it is not.
pub(crate) fn read_metadata_section(
    bytes: Vec<u8>,
) -> Result<(EifMetadataSection, Option<String>), EifError> {
    let value: Value = serde_json::from_slice(&bytes).map_err(EifError::InvalidMetadata)?;
    // Never lossy: serde_json has just checked every byte (strings are UTF-8, the rest ASCII syntax).
    let json = String::from_utf8_lossy(&bytes).into_owned();
    let (identity, foreign) = match serde_json::from_value::<EifMetadata>(value.clone()) {
        Err(_) if value.is_null() => (
            None,
            Some("it is JSON null, which AWS's reader reads as no metadata".to_string()),
        ),
        Err(e) => (
            None,
            Some(format!("AWS's reader and nitro-cli refuse it: {e}")),
        ),
        Ok(identity) => {
            let unknown = unknown_keys(&value);
            let foreign = (!unknown.is_empty()).then(|| {
                format!(
                    "it has keys nitro-cli's format does not have, which AWS's reader ignores: {}",
                    unknown.join(", ")
                )
            });
            (Some(identity), foreign)
        }
    };
    Ok((
        EifMetadataSection {
            json: StoredJson(json),
            identity,
        },
        foreign,
    ))
}

/// Keys of an `EifIdentityInfo`-shaped object that the struct does not have, `BuildMetadata.`-prefixed
/// for those inside it.
fn unknown_keys(value: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Value::Object(top) = value {
        for (key, inner) in top {
            if !IDENTITY_KEYS.contains(&key.as_str()) {
                unknown.push(key.clone());
            } else if let (true, Value::Object(build)) = (key == "BuildMetadata", inner) {
                unknown.extend(
                    build
                        .keys()
                        .filter(|key| !BUILD_KEYS.contains(&key.as_str()))
                        .map(|key| format!("BuildMetadata.{key}")),
                );
            }
        }
    }
    unknown
}

const SECONDS_PER_DAY: u64 = 86_400;

/// Formats Unix seconds as chrono's `DateTime<Utc>::to_rfc3339()` does for a whole second, e.g.
/// `1970-01-01T00:00:00+00:00`, so a fixed build time (such as `SOURCE_DATE_EPOCH`) gives the same
/// metadata bytes as nitro-cli given that time. Years past 9999 get chrono's explicit `+` sign.
pub fn rfc3339_from_unix(secs: u64) -> String {
    let days = secs / SECONDS_PER_DAY;
    let seconds_of_day = secs % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let year = if year <= 9999 {
        format!("{year:04}")
    } else {
        format!("+{year}")
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01, by shifting the year to start
/// in March so the leap day falls at the end of the 400-year cycle arithmetic. Unsigned throughout:
/// inputs are never before the epoch, and u64::MAX seconds is only ~5.8e11 years.
fn civil_from_days(days_since_epoch: u64) -> (u64, u64, u64) {
    // 719_468 days separate 0000-03-01 from 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_chrono_formatting() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(
            rfc3339_from_unix(1_718_291_918),
            "2024-06-13T15:18:38+00:00"
        );
        assert_eq!(
            rfc3339_from_unix(253_402_300_799),
            "9999-12-31T23:59:59+00:00"
        );
        assert_eq!(
            rfc3339_from_unix(253_402_300_800),
            "+10000-01-01T00:00:00+00:00"
        );
        assert_eq!(
            rfc3339_from_unix(4_107_542_400),
            "2100-03-01T00:00:00+00:00"
        );
    }

    /// With serde_json's `preserve_order` on (dcap-qvl turns it on in the workspace build), objects
    /// keep insertion order; the section must still have AWS's sorted keys.
    #[test]
    fn docker_info_and_custom_metadata_keys_are_sorted_whatever_the_insertion_order() {
        let unsorted = || {
            let mut inner = serde_json::Map::new();
            inner.insert("z".into(), 1.into());
            inner.insert("a".into(), 2.into());
            let mut outer = serde_json::Map::new();
            outer.insert("Zeta".into(), serde_json::Value::Object(inner));
            outer.insert("Alpha".into(), serde_json::json!([{"y": 1, "b": 2}]));
            serde_json::Value::Object(outer)
        };
        let metadata = EifMetadata {
            image_name: "toy".into(),
            image_version: "1.0".into(),
            build: BuildMetadata {
                build_time: rfc3339_from_unix(0),
                build_tool: "mpr".into(),
                build_tool_version: "0.1.0".into(),
                operating_system: "OS".into(),
                kernel_version: "kernel".into(),
            },
            docker_info: unsorted(),
            custom: unsorted(),
        };
        let text = String::from_utf8(metadata.to_section_bytes().unwrap()).unwrap();
        let sorted = r#"{"Alpha":[{"b":2,"y":1}],"Zeta":{"a":2,"z":1}}"#;
        assert!(
            text.contains(&format!(
                r#""DockerInfo":{sorted},"CustomMetadata":{sorted}}}"#
            )),
            "{text}"
        );
    }

    #[test]
    fn metadata_serialises_like_eif_identity_info() {
        let metadata = EifMetadata {
            image_name: "toy".into(),
            image_version: "1.0".into(),
            build: BuildMetadata {
                build_time: rfc3339_from_unix(0),
                build_tool: "eifref".into(),
                build_tool_version: "0.1.0".into(),
                operating_system: "OS".into(),
                kernel_version: "kernel".into(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        };
        let expected = r#"{"ImageName":"toy","ImageVersion":"1.0","BuildMetadata":{"BuildTime":"1970-01-01T00:00:00+00:00","BuildTool":"eifref","BuildToolVersion":"0.1.0","OperatingSystem":"OS","KernelVersion":"kernel"},"DockerInfo":null,"CustomMetadata":null}"#;
        let bytes = metadata.to_section_bytes().unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(bytes.len(), 234);
        assert_eq!(
            serde_json::from_slice::<EifMetadata>(&bytes).unwrap(),
            metadata
        );
    }
}
