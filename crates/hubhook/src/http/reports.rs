//! `GET /api/v1/reports/shift` (CONTRACT.md section 7): the shift report of a window, as JSON or,
//! with `Accept: text/csv`, as one CSV row per department. A manager's route.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    AppState,
    auth::Manager,
    error::{ApiError, ErrorBody},
};
use crate::domain::{
    report::{self, Report, Window, csv},
    time,
};

/// The CSV's media type.
pub const CSV: &str = "text/csv; charset=utf-8";

/// The report's window, from the query string.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The window's start, included: RFC 3339 with an offset. Default: `to` minus 8 hours.
    #[param(format = DateTime, example = "2026-07-01T07:00:00+02:00")]
    from: Option<String>,
    /// The window's end, excluded: RFC 3339 with an offset, after `from` and at most 31 days
    /// (745 hours) after it. Default: now.
    #[param(format = DateTime, example = "2026-07-01T15:00:00+02:00")]
    to: Option<String>,
}

/// Whether an `Accept` header asks for CSV: `text/csv` listed with a weight above 0 and at least
/// that of `application/json` (absent, `*/*` or anything else: JSON).
pub fn wants_csv(accept: Option<&str>) -> bool {
    let (mut csv, mut json) = (None::<f32>, None::<f32>);
    for range in accept.unwrap_or_default().split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
            .next()
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media.as_str() {
            "text/csv" => &mut csv,
            "application/json" => &mut json,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |s| s.max(q)));
    }
    match csv {
        Some(c) if c > 0.0 => json.is_none_or(|j| c >= j),
        _ => false,
    }
}

/// The report of `window` for a hotel, read and computed.
pub async fn report_of(
    app: &AppState,
    hotel: &crate::domain::HotelId,
    window: Window,
) -> Result<Report, crate::store::StoreError> {
    let rows = app.store.report_rows(hotel, window).await?;
    Ok(report::compute(window, &rows))
}

/// The report as a CSV download.
pub fn csv_response(r: &Report) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CSV)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"shift-report.csv\""),
            ),
        ],
        csv::departments(r),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/reports/shift", tag = "reports", params(ReportQuery),
    security(("api_key" = [])),
    description = "The shift report of the tasks created in `[from, to)`, each counted as it \
        stood at `to`. With `Accept: text/csv`: a header row, then one row per department \
        (RFC 4180; a cell a spreadsheet would read as a formula starts with `'`).",
    responses(
        (status = 200, description = "The report", content(
            (Report = "application/json"),
            (String = "text/csv", example = json!(
                "department,created,done,open,escalated,medianMinutesToAccept,medianMinutesToDone,p90MinutesToDone\r\nHousekeeping,12,9,3,1,2.5,18.0,41.5\r\n"))),
            headers(("Vary" = String, description = "Accept"))),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: from or to not RFC 3339 \
            with an offset"),
        (status = 422, body = ErrorBody, description = "UNPROCESSABLE: from not before to, or \
            more than 31 days (745 hours) apart (to defaults to now, from to 8 hours before to)"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database did not answer; \
            Retry-After says when to try again")))]
/// The shift report of the caller's hotel, as JSON or CSV.
pub async fn shift_report(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let window = Window::from_query(q.from.as_deref(), q.to.as_deref(), time::now())?;
    let report = report_of(&app, &caller.hotel, window).await?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let mut res = match wants_csv(accept) {
        true => csv_response(&report),
        false => Json(report).into_response(),
    };
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::wants_csv;

    #[test]
    fn csv_only_when_asked_for_at_least_as_much_as_json() {
        for yes in [
            "text/csv",
            "TEXT/CSV; charset=utf-8",
            "application/json;q=0.5, text/csv",
            "text/csv, application/json",
            "text/html, text/csv;q=0.9",
        ] {
            assert!(wants_csv(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "*/*",
            "application/json",
            "text/csv;q=0",
            "text/csv;q=0.4, application/json",
            "text/*",
        ] {
            assert!(!wants_csv(Some(no)), "{no}");
        }
        assert!(!wants_csv(None));
    }
}
