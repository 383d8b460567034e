//! Duve Connect bodies: a JSON template with `{{placeholder}}`s, each replaced by a value escaped for
//! a JSON string (so a guest's name cannot break, or inject into, the document).

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = [
    "reservationId",
    "orderId",
    "taskId",
    "taskName",
    "status",
    "room",
    "updatedAt",
];

pub const DEFAULT_FIELD: &str = "hubhook_task_status";

/// The default body: writes the task's status into one additional field of the reservation.
pub fn default_template(field: &str) -> String {
    let field = serde_json::to_string(field).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"reservationId\": \"{{{{reservationId}}}}\", \"additionalFields\": {{{field}: \"{{{{status}}}} ({{{{taskName}}}}, room {{{{room}}}}, task {{{{taskId}}}}, {{{{updatedAt}}}})\"}}}}"
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{{{0}}}}}: expected one of {list}", list = PLACEHOLDERS.join(", "))]
    Unknown(String),
    #[error("an unclosed {{{{ in the template")]
    Unclosed,
    #[error("the template with sample values is not JSON: {0}")]
    NotJson(String),
}

/// Fills `template`; `value` answers each placeholder name (None renders as an empty string).
pub fn render<'a>(
    template: &str,
    value: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(TemplateError::Unknown(name.to_owned()));
        }
        let v = value(name).unwrap_or("");
        // The JSON string's escaped content, without its quotes: the template supplies those.
        let quoted = serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
        out.push_str(&quoted[1..quoted.len() - 1]);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a template when a subscription is made: known placeholders, and JSON once filled.
pub fn check(template: &str) -> Result<(), TemplateError> {
    let sample = render(template, |_| Some("x"))?;
    serde_json::from_str::<serde_json::Value>(&sample)
        .map(|_| ())
        .map_err(|e| TemplateError::NotJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_template_is_json_and_escapes_values() {
        let t = default_template(DEFAULT_FIELD);
        check(&t).unwrap();
        let body = render(&t, |k| match k {
            "status" => Some("done"),
            "taskName" => Some("Serve \"towels\""),
            _ => Some("1"),
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["reservationId"], "1");
        let field = v["additionalFields"][DEFAULT_FIELD].as_str().unwrap();
        assert!(
            field.starts_with("done (Serve \"towels\", room 1"),
            "{field}"
        );
    }

    #[test]
    fn unknown_placeholders_and_broken_templates_are_refused() {
        assert_eq!(
            check("{\"a\": \"{{nope}}\"}"),
            Err(TemplateError::Unknown("nope".into()))
        );
        assert_eq!(check("{\"a\": \"{{status\"}"), Err(TemplateError::Unclosed));
        assert!(matches!(
            check("{\"a\": {{status}}}"),
            Err(TemplateError::NotJson(_))
        ));
    }
}
