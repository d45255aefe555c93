//! Measurements: what the hardware reports for a release, per platform and launch parameters,
//! grouped in sets that are active or deprecated. Wallets ask "which values are valid for release X
//! on platform Y with parameters Z?" and "which release has this value?". Every answer names the
//! signed statement each value comes from (the release's, or the addendum that added its set) and
//! the status statement that set its current status; a set's status is never stored as a column but
//! derived from its latest status statement (the `measurement_set_status` view).

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{PgPool, Postgres, Transaction};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::platform::Platform;
use crate::releases::object;
use crate::respond::{cached_json, Path, Query};
use crate::state::AppState;
use crate::statements::StatementRef;
use crate::submission::MeasurementSetSubmission;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasurementView {
    pub platform: Platform,
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    #[schema(value_type = Object)]
    pub registers: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasurementSetView {
    pub name: String,
    /// `active` (wallets accept it) or `deprecated` (kept for audit).
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// When the status statement that deprecated the set was recorded.
    pub deprecated_at: Option<DateTime<Utc>>,
    /// The statement the set's values come from: the release's, or an addendum.
    pub statement: StatementRef,
    /// The latest status statement about the set; absent while it has the status it was published
    /// with (active).
    pub status_statement: Option<StatementRef>,
    /// The sequence of that status statement (0 without one): the next one has this plus one.
    pub status_sequence: i32,
    pub measurements: Vec<MeasurementView>,
}

/// One measurement with its set, as the filtered and lookup answers list them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatchedMeasurement {
    pub package: String,
    pub version: String,
    pub set: String,
    pub set_status: String,
    /// The signed statement the values come from: the release's, or the addendum that added the set.
    pub statement: StatementRef,
    /// The status statement that gave the set its current status; absent while the set has the
    /// status it was published with (active).
    pub status_statement: Option<StatementRef>,
    #[serde(flatten)]
    pub measurement: MeasurementView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeasurementList {
    pub measurements: Vec<MatchedMeasurement>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupAnswer {
    pub value: String,
    /// Every measurement that has the value in one of its registers, newest release first.
    pub matches: Vec<LookupMatch>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LookupMatch {
    /// The register that holds the value.
    pub register: String,
    #[serde(flatten)]
    pub measurement: MatchedMeasurement,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub status: Option<String>,
    /// Only releases at least this many rebuilders (distinct registered keys) reproduced.
    pub min_rebuilds: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetsQuery {
    /// `active` (default), `deprecated` or `any`.
    pub status: Option<String>,
    pub platform: Option<Platform>,
    /// Only releases at least this many rebuilders (distinct registered keys) reproduced.
    pub min_rebuilds: Option<u32>,
}

/// Filters given as query parameters: `platform`, `status`, and any launch parameter of the
/// platform (`vcpus=4`, `vmm=qemu`, `vcpu_type=EPYC-Milan-v2`, `firmware_sha256=...`).
#[derive(Debug, Default)]
pub(crate) struct MeasurementFilter {
    pub platform: Option<Platform>,
    pub status: Option<String>,
    pub parameters: Map<String, Value>,
    /// Only releases whose latest reports by at least this many rebuilders are GOOD.
    pub min_rebuilds: Option<u32>,
}

/// The status filter a query asks for: active sets unless it says otherwise; `any` is no filter.
fn status_filter(status: Option<&str>) -> Result<Option<String>, ApiError> {
    match status.unwrap_or("active") {
        "any" => Ok(None),
        status @ ("active" | "deprecated") => Ok(Some(status.to_owned())),
        other => Err(ApiError::invalid(format!(
            "status must be active, deprecated or any, got {other:?}"
        ))),
    }
}

/// `min_rebuilds=k`: a small count (a policy names at most a few dozen rebuilders).
fn min_rebuilds(text: Option<&str>) -> Result<Option<u32>, ApiError> {
    text.map(|text| {
        text.parse::<u32>()
            .ok()
            .filter(|k| *k <= 1000)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "min_rebuilds must be a count from 0 to 1000 (how many rebuilders must have reproduced the release), got {text:?}"
                ))
            })
    })
    .transpose()
}

impl MeasurementFilter {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let mut filter = MeasurementFilter::default();
        if let Some(platform) = query.get("platform") {
            filter.platform = Some(platform.parse().map_err(ApiError::InvalidInput)?);
        }
        filter.status = status_filter(query.get("status").map(String::as_str))?;
        filter.min_rebuilds = min_rebuilds(query.get("min_rebuilds").map(String::as_str))?;
        for (name, text) in query {
            if matches!(name.as_str(), "platform" | "status" | "min_rebuilds") {
                continue;
            }
            let Some(platform) = filter.platform else {
                return Err(ApiError::invalid(format!(
                    "filter {name:?} needs platform=... to say whose parameter it is"
                )));
            };
            let value = platform.parameter_value(name, text).ok_or_else(|| {
                let known: Vec<&str> = platform.parameters().iter().map(|rule| rule.name).collect();
                ApiError::invalid(format!(
                    "unknown filter {name:?} for {platform}; expected platform, status{}{}",
                    if known.is_empty() { "" } else { " or " },
                    known.join(", ")
                ))
            })?;
            filter
                .parameters
                .insert(name.clone(), value.map_err(ApiError::InvalidInput)?);
        }
        Ok(filter)
    }
}

pub(crate) async fn matching(
    pool: &PgPool,
    release_id: Option<i64>,
    filter: &MeasurementFilter,
    value: Option<&str>,
) -> Result<Vec<(Option<String>, MatchedMeasurement)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT r.version, r.package, s.name AS set_name, st.status AS "status!", m.platform, m.parameters,
                  origin.kind AS origin_kind, origin.sha256 AS origin_sha256,
                  changed.kind AS "changed_kind?", changed.sha256 AS "changed_sha256?",
                  (SELECT jsonb_object_agg(v.register, v.value) FROM measurement_values v
                    WHERE v.measurement_id = m.id) AS registers,
                  (SELECT v.register FROM measurement_values v
                    WHERE v.measurement_id = m.id AND v.value = $5 LIMIT 1) AS matched_register
           FROM measurements m
           JOIN measurement_sets s ON s.id = m.set_id
           JOIN measurement_set_status st ON st.set_id = s.id
           JOIN statements origin ON origin.id = s.statement_id
           LEFT JOIN statements changed ON changed.id = st.status_statement_id
           JOIN releases r ON r.id = s.release_id
           WHERE ($1::bigint IS NULL OR r.id = $1)
             AND ($2::text IS NULL OR m.platform = $2)
             AND ($3::text IS NULL OR st.status = $3)
             AND m.parameters @> $4
             AND ($5::text IS NULL OR m.id IN (SELECT measurement_id FROM measurement_values WHERE value = $5))
             AND ($6::bigint IS NULL OR (SELECT a.agreeing FROM release_rebuild_agreement a
                                          WHERE a.release_id = r.id) >= $6)
           ORDER BY r.id DESC, s.name, m.platform, m.id"#,
        release_id,
        filter.platform.map(Platform::as_str),
        filter.status,
        Value::Object(filter.parameters.clone()),
        value,
        filter.min_rebuilds.map(i64::from)
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let platform = row.platform.parse().ok()?;
            Some((
                row.matched_register,
                MatchedMeasurement {
                    package: row.package,
                    version: row.version,
                    set: row.set_name,
                    set_status: row.status,
                    statement: StatementRef::new(row.origin_kind, row.origin_sha256),
                    status_statement: row
                        .changed_kind
                        .zip(row.changed_sha256)
                        .map(|(kind, sha256)| StatementRef::new(kind, sha256)),
                    measurement: MeasurementView {
                        platform,
                        parameters: object(Some(row.parameters)),
                        registers: object(row.registers),
                    },
                },
            ))
        })
        .collect())
}

pub(crate) async fn sets_for_release(
    pool: &PgPool,
    release_id: i64,
) -> Result<Vec<MeasurementSetView>, sqlx::Error> {
    let sets = sqlx::query!(
        r#"SELECT s.name, st.status AS "status!", st.sequence AS "sequence!", s.created_at,
                  origin.kind AS origin_kind, origin.sha256 AS origin_sha256,
                  changed.kind AS "changed_kind?", changed.sha256 AS "changed_sha256?",
                  changed.created_at AS "changed_at?"
           FROM measurement_sets s
           JOIN measurement_set_status st ON st.set_id = s.id
           JOIN statements origin ON origin.id = s.statement_id
           LEFT JOIN statements changed ON changed.id = st.status_statement_id
           WHERE s.release_id = $1 ORDER BY s.name"#,
        release_id
    )
    .fetch_all(pool)
    .await?;
    let mut by_set: BTreeMap<String, Vec<MeasurementView>> = BTreeMap::new();
    for (_, matched) in
        matching(pool, Some(release_id), &MeasurementFilter::default(), None).await?
    {
        by_set
            .entry(matched.set)
            .or_default()
            .push(matched.measurement);
    }
    Ok(sets
        .into_iter()
        .map(|set| MeasurementSetView {
            measurements: by_set.remove(&set.name).unwrap_or_default(),
            name: set.name,
            deprecated_at: set.changed_at.filter(|_| set.status == "deprecated"),
            status: set.status,
            status_sequence: set.sequence,
            created_at: set.created_at,
            statement: StatementRef::new(set.origin_kind, set.origin_sha256),
            status_statement: set
                .changed_kind
                .zip(set.changed_sha256)
                .map(|(kind, sha256)| StatementRef::new(kind, sha256)),
        })
        .collect())
}

/// Stores sets whose values come from the statement `statement_id` (a release's or an addendum's).
pub(crate) async fn insert_sets(
    tx: &mut Transaction<'_, Postgres>,
    release_id: i64,
    statement_id: i64,
    sets: &[MeasurementSetSubmission],
    created_by_token: &str,
) -> Result<(), sqlx::Error> {
    for set in sets {
        let set_id = sqlx::query_scalar!(
            "INSERT INTO measurement_sets (release_id, name, statement_id, created_by_token) VALUES ($1, $2, $3, $4) RETURNING id",
            release_id,
            set.name,
            statement_id,
            created_by_token
        )
        .fetch_one(&mut **tx)
        .await?;
        for measurement in &set.measurements {
            let measurement_id = sqlx::query_scalar!(
                "INSERT INTO measurements (set_id, platform, parameters) VALUES ($1, $2, $3) RETURNING id",
                set_id,
                measurement.platform.as_str(),
                Value::Object(measurement.parameters.clone())
            )
            .fetch_one(&mut **tx)
            .await?;
            let (registers, values): (Vec<&str>, Vec<&str>) = measurement
                .registers
                .iter()
                .filter_map(|(register, value)| Some((register.as_str(), value.as_str()?)))
                .unzip();
            sqlx::query!(
                r#"INSERT INTO measurement_values (measurement_id, register, value)
                   SELECT $1, * FROM UNNEST($2::text[], $3::text[])"#,
                measurement_id,
                &registers as &[&str],
                &values as &[&str]
            )
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/v1/releases/{version}/measurements", tag = "measurements",
    params(("version" = String, Path),
           ("platform" = Option<Platform>, Query, description = "aws-nitro, sev-snp, tdx, gcp-confidential-space, gcp-cvm or azure-cvm"),
           ("status" = Option<String>, Query, description = "active (default), deprecated or any"),
           ("min_rebuilds" = Option<u32>, Query, description = "only if at least this many rebuilders (distinct registered keys) reproduced the release"),
           ("vcpus" = Option<u32>, Query, description = "any launch parameter of the platform, e.g. vcpus, vmm, vcpu_type, firmware_sha256")),
    responses((status = 200, body = MeasurementList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn of_release(
    State(state): State<AppState>,
    Path(version): Path<String>,
    // Any map of strings decodes, so axum's extractor never rejects it.
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async {
        let filter = MeasurementFilter::from_query(&query)?;
        let release_id = crate::releases::id_of(pool, &version).await?;
        let measurements = matching(pool, Some(release_id), &filter, None).await?;
        Ok(MeasurementList {
            measurements: measurements.into_iter().map(|(_, m)| m).collect(),
        })
    })
    .await
}

#[utoipa::path(get, path = "/v1/measurements/{value}", tag = "measurements",
    params(("value" = String, Path, description = "a register value in hex (any case)"),
           ("status" = Option<String>, Query, description = "active (default), deprecated or any"),
           ("min_rebuilds" = Option<u32>, Query, description = "only releases at least this many rebuilders (distinct registered keys) reproduced: their latest reports are GOOD")),
    responses((status = 200, body = LookupAnswer), (status = 422, body = ErrorBody)))]
pub async fn lookup(
    State(state): State<AppState>,
    Path(value): Path<String>,
    Query(query): Query<LookupQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async {
        let filter = MeasurementFilter {
            status: status_filter(query.status.as_deref())?,
            min_rebuilds: query.min_rebuilds,
            ..MeasurementFilter::default()
        };
        let value = value.to_ascii_lowercase();
        if !matches!(value.len(), 64 | 96) || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::invalid(
                "a measurement value is 64 or 96 hex digits (a SHA-256 or SHA-384 register)",
            ));
        }
        let matches = matching(pool, None, &filter, Some(&value))
            .await?
            .into_iter()
            .map(|(register, measurement)| LookupMatch {
                register: register.unwrap_or_default(),
                measurement,
            })
            .collect();
        Ok(LookupAnswer { value, matches })
    })
    .await
}

#[utoipa::path(get, path = "/v1/measurement-sets", tag = "measurements", params(SetsQuery),
    responses((status = 200, body = MeasurementList), (status = 422, body = ErrorBody)))]
pub async fn sets(
    State(state): State<AppState>,
    Query(query): Query<SetsQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pool = &state.pool;
    cached_json(&state, &uri, &headers, async {
        let filter = MeasurementFilter {
            platform: query.platform,
            status: status_filter(query.status.as_deref())?,
            parameters: Map::new(),
            min_rebuilds: query.min_rebuilds,
        };
        let measurements = matching(pool, None, &filter, None).await?;
        Ok(MeasurementList {
            measurements: measurements.into_iter().map(|(_, m)| m).collect(),
        })
    })
    .await
}
