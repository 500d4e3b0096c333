//! The formation endpoints as Heroku's schema describes them
//! (`../shared/heroku/formation-schema.json`): version header, credentials,
//! app and process type, body shape, limits, and schema-shaped answers. Pure:
//! a request and the state in, a status and a JSON body out; the server
//! around it is wiremock's (see `mod.rs`).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::{RecordedRequest, ScaleEvent};

/// The `Accept` value Heroku's API version 3 requires.
pub const HEROKU_ACCEPT: &str = "application/vnd.heroku+json; version=3";

#[derive(Debug)]
pub struct Process {
    pub id: String,
    pub quantity: u32,
    pub max: Option<u32>,
    pub size: String,
    pub command: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The app as the API sees it.
pub struct Formation {
    pub app: String,
    pub app_id: String,
    pub token: String,
    pub forbidden_tokens: Vec<String>,
    pub processes: BTreeMap<String, Process>,
    pub history: Vec<ScaleEvent>,
}

pub fn error(status: u16, id: &str, message: &str) -> (u16, Value) {
    (status, json!({ "id": id, "message": message }))
}

pub fn route(state: &mut Formation, request: &RecordedRequest) -> (u16, Value) {
    // Version header.
    let accept = request.header("accept").unwrap_or_default();
    if !accept.contains(HEROKU_ACCEPT) {
        return error(
            400,
            "bad_request",
            "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
        );
    }

    // Credentials.
    let authorization = request.header("authorization").unwrap_or_default();
    let presented = presented_token(authorization);
    let forbidden = match presented {
        Some(ref token) if *token == state.token => false,
        Some(ref token) if state.forbidden_tokens.contains(token) => true,
        _ => return error(401, "unauthorized", "Invalid credentials provided."),
    };

    // Route.
    let segments: Vec<String> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|segment| percent_decode_str(segment).decode_utf8_lossy().into_owned())
        .collect();
    let endpoint_not_found = || {
        error(
            404,
            "not_found",
            "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?",
        )
    };
    let process_type = match segments.as_slice() {
        [apps, _, formation] if apps == "apps" && formation == "formation" => None,
        [apps, _, formation, process_type] if apps == "apps" && formation == "formation" => {
            Some(process_type.clone())
        }
        _ => return endpoint_not_found(),
    };
    if request.method != "GET" && request.method != "PATCH" {
        return endpoint_not_found();
    }
    let app = &segments[1];
    if *app != state.app && *app != state.app_id {
        return error(404, "not_found", "Couldn't find that app.");
    }
    if forbidden {
        let message = format!("You do not have access to the app {}.", state.app);
        return error(403, "forbidden", &message);
    }

    // Body.
    let body = if request.method == "PATCH" {
        let content_type = request
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !content_type.starts_with("application/json") {
            return error(
                400,
                "bad_request",
                "Request body must be JSON (Content-Type: application/json).",
            );
        }
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(body) => Some(body),
            Err(_) => {
                return error(
                    400,
                    "bad_request",
                    "Unable to parse the request body as JSON.",
                )
            }
        }
    } else {
        None
    };

    match (request.method.as_str(), process_type, body) {
        ("GET", None, _) => {
            let list: Vec<Value> = state
                .processes
                .iter()
                .map(|(name, p)| formation_json(state, name, p))
                .collect();
            (200, Value::Array(list))
        }
        ("GET", Some(process_type), _) => match find_process(state, &process_type) {
            Some(name) => (200, formation_json(state, &name, &state.processes[&name])),
            None => type_not_found(&process_type),
        },
        ("PATCH", Some(process_type), Some(body)) => patch_one(state, &process_type, &body),
        ("PATCH", None, Some(body)) => patch_batch(state, &body),
        _ => endpoint_not_found(),
    }
}

fn type_not_found(process_type: &str) -> (u16, Value) {
    error(
        404,
        "not_found",
        &format!("Couldn't find that process type ({process_type})."),
    )
}

fn invalid_params(message: &str) -> (u16, Value) {
    error(422, "invalid_params", message)
}

/// A process type by name or formation id.
fn find_process(state: &Formation, identity: &str) -> Option<String> {
    if state.processes.contains_key(identity) {
        return Some(identity.to_owned());
    }
    state
        .processes
        .iter()
        .find(|(_, p)| p.id == identity)
        .map(|(name, _)| name.clone())
}

struct Change {
    name: String,
    quantity: Option<u32>,
    size: Option<String>,
}

/// Validates one update object against the schema's properties.
/// (type, quantity, size) of a valid update object, or the error response.
type ParsedUpdate = (Option<String>, Option<u32>, Option<String>);

fn parse_update(
    update: &Value,
    allowed: &[&str],
    require_type: bool,
) -> Result<ParsedUpdate, (u16, Value)> {
    let object: &Map<String, Value> = match update.as_object() {
        Some(object) => object,
        None => {
            return Err(invalid_params(
                "Expected an object of formation properties.",
            ))
        }
    };
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(invalid_params(&format!(
                "Invalid params: unexpected property `{key}`."
            )));
        }
    }
    let process_type = match object.get("type") {
        None if require_type => return Err(invalid_params("Invalid params: `type` is required.")),
        None => None,
        Some(Value::String(t)) if valid_type(t) => Some(t.clone()),
        Some(_) => {
            return Err(invalid_params(
                "Invalid params: `type` must be a process type name.",
            ))
        }
    };
    let quantity = match object.get("quantity") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(q) if value.is_u64() && q <= u32::MAX as u64 => Some(q as u32),
            _ => {
                return Err(invalid_params(
                    "Invalid params: `quantity` must be a non-negative integer.",
                ))
            }
        },
    };
    let size = match (object.get("dyno_size"), object.get("size")) {
        (Some(Value::Object(d)), _) => match d.get("name").or_else(|| d.get("id")) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => {
                return Err(invalid_params(
                    "Invalid params: `dyno_size` needs `name` or `id`.",
                ))
            }
        },
        (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => Some(s.clone()),
        (None, None) => None,
        _ => return Err(invalid_params("Invalid params: bad dyno size.")),
    };
    Ok((process_type, quantity, size))
}

fn valid_type(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn patch_one(state: &mut Formation, identity: &str, body: &Value) -> (u16, Value) {
    let (_, quantity, size) = match parse_update(body, &["quantity", "dyno_size", "size"], false) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    if quantity.is_none() {
        return invalid_params("Invalid params: `quantity` is required.");
    }
    let Some(name) = find_process(state, identity) else {
        return type_not_found(identity);
    };
    let changes = vec![Change {
        name,
        quantity,
        size,
    }];
    match apply(state, changes) {
        Ok(mut updated) => (200, updated.remove(0)),
        Err(response) => response,
    }
}

fn patch_batch(state: &mut Formation, body: &Value) -> (u16, Value) {
    let object = match body.as_object() {
        Some(object) => object,
        None => return invalid_params("Invalid params: expected an object with `updates`."),
    };
    if let Some(key) = object.keys().find(|k| *k != "updates") {
        return invalid_params(&format!("Invalid params: unexpected property `{key}`."));
    }
    let updates = match object.get("updates") {
        Some(Value::Array(updates)) => updates,
        Some(_) => return invalid_params("Invalid params: `updates` must be an array."),
        None => return invalid_params("Invalid params: `updates` is required."),
    };
    let mut changes = Vec::new();
    for update in updates {
        let (process_type, quantity, size) =
            match parse_update(update, &["type", "quantity", "dyno_size", "size"], true) {
                Ok(parsed) => parsed,
                Err(response) => return response,
            };
        let process_type = process_type.unwrap_or_default();
        let Some(name) = find_process(state, &process_type) else {
            return type_not_found(&process_type);
        };
        changes.push(Change {
            name,
            quantity,
            size,
        });
    }
    match apply(state, changes) {
        Ok(updated) => (200, Value::Array(updated)),
        Err(response) => response,
    }
}

/// Checks limits for all changes, then applies them all (atomic).
fn apply(state: &mut Formation, changes: Vec<Change>) -> Result<Vec<Value>, (u16, Value)> {
    for change in &changes {
        let process = &state.processes[&change.name];
        if let (Some(quantity), Some(max)) = (change.quantity, process.max) {
            if quantity > max {
                let size = change.size.as_deref().unwrap_or(&process.size);
                return Err(error(
                    422,
                    "cannot_update_above_limit",
                    &format!(
                        "Cannot update to more than {max} {size} size dynos per process type."
                    ),
                ));
            }
        }
    }
    let now = iso8601(SystemTime::now());
    let at = Instant::now();
    let mut updated = Vec::new();
    for change in changes {
        let process = state.processes.get_mut(&change.name).expect("validated");
        if let Some(quantity) = change.quantity {
            if quantity != process.quantity {
                state.history.push(ScaleEvent {
                    process_type: change.name.clone(),
                    from: process.quantity,
                    to: quantity,
                    at,
                });
            }
            process.quantity = quantity;
        }
        if let Some(size) = change.size {
            process.size = size;
        }
        process.updated_at = now.clone();
        let process = &state.processes[&change.name];
        updated.push(formation_json(state, &change.name, process));
    }
    Ok(updated)
}

pub fn formation_json(state: &Formation, name: &str, p: &Process) -> Value {
    json!({
        "app": { "id": state.app_id, "name": state.app },
        "command": p.command,
        "created_at": p.created_at,
        "dyno_size": { "id": fake_uuid(0x5153 + p.size.len() as u64), "name": p.size },
        "id": p.id,
        "quantity": p.quantity,
        "size": p.size,
        "type": name,
        "updated_at": p.updated_at,
    })
}

/// The token presented in a Bearer header, or the password of a Basic one.
fn presented_token(authorization: &str) -> Option<String> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(rest)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return Some(password.to_owned());
    }
    None
}

pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(input).ok()
}

pub fn fake_uuid(n: u64) -> String {
    format!("01234567-89ab-cdef-0123-{:012x}", n)
}


/// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    pub fn iso8601_known_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_325_419_200)),
            "2012-01-01T12:00:00Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(
            base64_decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap(),
            b"Aladdin:open sesame"
        );
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert!(base64_decode("Zm9v!").is_none());
    }
}
