//! Every answer this door gives, as OpenAPI response components: core's `{code, msg,
//! result}` (rendered by `wharf_proto::json`), the batch view, and the door's own refusals
//! (`reply.rs`), each with the status it comes with.

use serde_json::{json, Map, Value as Json};

/// The result codes of SPEC §5 an answer with status 200 carries.
const ANSWER_CODES: [&str; 6] = ["0", "E00A00", "E00P00", "E00V00", "E00W00", "E00M00"];

/// `{"code": STATUS, "msg": WORDS}`: a refusal the door or core's gRPC status makes, with
/// the `headers` it carries.
fn refusal(status: &str, description: &str, headers: Option<Json>) -> Json {
    json!({
        "description": description,
        "headers": headers.unwrap_or_else(|| json!({})),
        "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["code", "msg"],
            "properties": { "code": { "const": status }, "msg": { "type": "string" } },
            "additionalProperties": false,
        } } },
    })
}

/// A response whose body is the schema component `schema`.
fn with_schema(description: &str, schema: &str) -> Json {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
    })
}

/// A header the response always carries.
fn header(description: &str) -> Json {
    json!({ "required": true, "description": description, "schema": { "type": "string" } })
}

/// The shared schemas: the answer and its entries, the batch view, the envelope's absent value.
pub(super) fn schemas() -> Map<String, Json> {
    let text = json!({ "type": "string" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let mut batch = Map::new();
    for (name, schema) in [
        ("batch_id", text.clone()),
        (
            "interface",
            json!({ "type": "string", "description": "data_category/biz_key" }),
        ),
        (
            "state",
            json!({ "enum": ["open", "held", "applied", "failed", "expired", "reverted", "cancelled"] }),
        ),
        (
            "operation",
            json!({ "enum": ["insert", "update", "delete", "all"] }),
        ),
        ("batch_size", count.clone()),
        ("staged_rows", count.clone()),
        ("sequences", count),
        (
            "failure_code",
            json!({ "type": "string", "description": "the code the batch failed with (\"\" unless failed)" }),
        ),
        ("failure_msg", text.clone()),
        ("proposalType", json!({ "const": "batch" })),
        (
            "batchSource",
            json!({ "type": "string", "description": "api, ftp, excel" }),
        ),
        ("instantExecute", json!({ "type": "boolean" })),
        (
            "checkOnly",
            json!({ "type": "boolean", "description": "sent as check only (the upload page): held means checked, nothing applied, waiting for execute or cancel by hand; no executeTs" }),
        ),
        (
            "executeTs",
            json!({ "type": "string", "description": "RFC 3339, UTC (\"\" when none)" }),
        ),
        (
            "executeStatus",
            json!({ "type": "string", "description": "idle, running, finished, failed, cancelled" }),
        ),
        (
            "executor",
            json!({ "type": "string", "description": "Scheduler, or who acted by hand" }),
        ),
        ("executeDetail", text.clone()),
        (
            "revertTs",
            json!({ "type": "string", "description": "RFC 3339, UTC (\"\" when none)" }),
        ),
        (
            "revertStatus",
            json!({ "type": "string", "description": "\"\" (no revert planned), idle, running, finished, failed, cancelled, conflict" }),
        ),
        ("reverter", text.clone()),
        ("revertDetail", text.clone()),
        ("creator", text.clone()),
        (
            "createdTs",
            json!({ "type": "string", "description": "RFC 3339, UTC" }),
        ),
        ("modifier", text.clone()),
        (
            "modifiedTs",
            json!({ "type": "string", "description": "RFC 3339, UTC (\"\" when never modified)" }),
        ),
    ] {
        batch.insert(name.to_string(), schema);
    }
    let batch_fields: Vec<&String> = batch.keys().collect();
    let batch = json!({
        "type": "object",
        "description": "A batch's state and seed 003's proposal view of it",
        "required": batch_fields,
        "properties": batch,
        "additionalProperties": false,
    });
    let problems = json!({ "type": "array", "items": { "$ref": "#/components/schemas/Problem" } });
    let schemas = json!({
        "Absent": {
            "description": "null or blank: the field counts as absent",
            "anyOf": [{ "type": "null" }, { "type": "string", "pattern": "^\\s*$" }],
        },
        "Verify": {
            "type": "object",
            "required": ["type", "fields"],
            "properties": {
                "type": { "type": "string", "description": "required field missing, value length exceed, invalid number, number precision exceed, invalid date, value not allowed, unknown field, invalid type, duplicate key; or an envelope field's problem in the same words" },
                "fields": { "type": "string", "description": "the fields concerned, comma-separated" },
                "code": { "type": "string", "description": "seed 003's number of a schedule problem (40000011, 40009214-40009217)" },
                "detail": { "$ref": "#/components/schemas/Detail" },
            },
            "additionalProperties": false,
        },
        "Detail": {
            "type": "object",
            "description": "What a person needs to fix the problem, beside `type` and `fields`; absent when the type says it all (required field missing, unknown field, invalid type). Each part only when it applies",
            "minProperties": 1,
            "properties": {
                "by_field": {
                    "type": "object",
                    "description": "each field of `fields` with a rule to state → that rule; past the first 1,000 failing rows (those repeated whole) an entry leaves out the rules an earlier entry already stated for that type and field",
                    "additionalProperties": { "$ref": "#/components/schemas/FieldDetail" },
                },
                "key": {
                    "type": "object",
                    "description": "duplicate key: the key (or uid) already taken, field → value as the row has it",
                },
                "repeats": {
                    "type": "object",
                    "description": "duplicate key within one sequence: the earlier row that took the key first (its index in `data`; its sheet line for sheets). Absent when the key is taken in the stored data or by an earlier sequence of the batch",
                    "required": ["index"],
                    "properties": {
                        "index": { "type": "integer", "minimum": 0 },
                        "line": { "type": "integer", "minimum": 1 },
                    },
                    "additionalProperties": false,
                },
            },
            "additionalProperties": false,
        },
        "FieldDetail": {
            "type": "object",
            "description": "The rule one field broke",
            "properties": {
                "max_length": { "type": "integer", "minimum": 0, "description": "longest value, in characters" },
                "format": { "enum": ["yyyy-mm-dd", "digits", "decimal"] },
                "example": { "type": "string", "description": "a value of that format" },
                "allowed": { "type": "array", "items": { "type": "string" }, "description": "the only values taken" },
                "max_digits": { "type": "integer", "minimum": 1, "description": "a decimal's precision: digits in all" },
                "max_decimals": { "type": "integer", "minimum": 0, "description": "a decimal's scale: digits after the point" },
                "also_accepted": { "type": "array", "items": { "type": "string" }, "description": "literal values taken whatever the type (e.g. N/A)" },
                "control_characters": { "const": true, "description": "the value was refused for holding control characters" },
            },
            "additionalProperties": false,
        },
        "Problem": {
            "type": "object",
            "description": "A failing row (its index in `data` and the row as sent) or, with neither, the envelope",
            "required": ["verify"],
            "properties": {
                "index": { "type": "integer", "minimum": 0 },
                "line": { "type": "integer", "minimum": 1 },
                "row": { "description": "the row as sent (an item that is not an object, as it is)" },
                "verify": { "type": "array", "minItems": 1, "items": { "$ref": "#/components/schemas/Verify" } },
            },
            "additionalProperties": false,
        },
        "Answer": {
            "type": "object",
            "required": ["code", "msg"],
            "properties": {
                "code": { "enum": ANSWER_CODES },
                "msg": { "type": "string" },
                "result": { "type": "array" },
            },
            "additionalProperties": false,
            "description": "0 accepted (staged or applied); E00A00 this sequence was already consumed, nothing changed; E00P00 retry upper limit reached, the batch failed; E00V00 verification failed; E00W00 a key already exists or repeats; E00M00 both of the last two. `result` lists the failing rows (E00V00, E00W00) or one entry per code with its rows (E00M00)",
            "oneOf": [
                {
                    "properties": {
                        "code": { "enum": ["0", "E00A00", "E00P00", "E00V00", "E00W00"] },
                        "result": problems,
                    },
                },
                {
                    "properties": {
                        "code": { "const": "E00M00" },
                        "result": { "type": "array", "items": { "$ref": "#/components/schemas/CodeGroup" } },
                    },
                },
            ],
        },
        "CodeGroup": {
            "type": "object",
            "required": ["code", "msg", "result"],
            "properties": {
                "code": { "enum": ["E00V00", "E00W00"] },
                "msg": { "type": "string" },
                "result": problems,
            },
            "additionalProperties": false,
        },
        "SystemError": {
            "type": "object",
            "required": ["code", "msg"],
            "properties": {
                "code": { "const": "-1" },
                "msg": { "type": "string" },
                "result": problems,
            },
            "additionalProperties": false,
        },
        "Batch": {
            "type": "object",
            "required": ["code", "msg", "result"],
            "properties": {
                "code": { "const": "0" },
                "msg": { "type": "string" },
                "result": batch,
            },
            "additionalProperties": false,
        },
        "OAuthError": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": { "enum": ["invalid_request", "unsupported_grant_type", "invalid_client"] },
                "error_description": { "type": "string" },
            },
            "additionalProperties": false,
        },
    });
    match schemas {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// The shared responses, by name.
pub(super) fn responses() -> Map<String, Json> {
    let answer_example = |code: &str, msg: &str| json!({ "value": { "code": code, "msg": msg } });
    let responses = json!({
        "Answer": {
            "description": "Core's answer to the sequence: one of SPEC §5's codes",
            "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Answer" },
                "examples": {
                    "accepted": answer_example("0", "request success"),
                    "consumed": answer_example("E00A00", "the sequence data has been successfully consumed"),
                    "rejected": { "value": {
                        "code": "E00V00",
                        "msg": "data verification failed!",
                        "result": [{ "index": 0, "row": { "effective_end_date": "xxxxxxxxxxxx" },
                                     "verify": [{ "type": "invalid date", "fields": "effective_end_date",
                                                  "detail": { "by_field": { "effective_end_date":
                                                      { "format": "yyyy-mm-dd", "example": "2024-02-29" } } } }] }],
                    } },
                },
            } },
        },
        "Batch": with_schema("code 0; result: the batch", "Batch"),
        "BadRequest": refusal("400", "A request this door or core cannot read (a bad query parameter, a body that broke off), named in msg", None),
        "Unauthorized": refusal("401", "Bad credentials or token (never says which part)",
            Some(json!({ "WWW-Authenticate": header("Basic and Bearer challenges") }))),
        "NotFound": refusal("404", "An interface you may not use, or a batch you never sent", None),
        "Conflict": refusal("409", "Not possible in the batch's state (cancel after execute, a second revert): msg says why", None),
        "BodyTimeout": refusal("408", "The body did not arrive in full within the request timeout (60 s): nothing was done", None),
        "TooLarge": {
            "description": "The body is larger than 1 MiB: E00V00 naming `body`, nothing was done",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["code", "msg", "result"],
                "properties": {
                    "code": { "const": "E00V00" },
                    "msg": { "type": "string" },
                    "result": { "type": "array", "items": { "$ref": "#/components/schemas/Problem" } },
                },
                "additionalProperties": false,
            } } },
        },
        "TooManyLogins": refusal("429", "Too many wrong passwords from this address or for this name lately: try again later",
            Some(json!({ "Retry-After": {
                "description": "seconds until logins are taken again, when known",
                "schema": { "type": "string" },
            } }))),
        "SystemError": with_schema("Code -1: a system error (store or core unavailable, the request took too long): safe to retry", "SystemError"),
        "Token": {
            "description": "A bearer token for every data call, until it expires",
            "headers": { "Cache-Control": { "required": true, "schema": { "const": "no-store" } } },
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in"],
                "properties": {
                    "access_token": { "type": "string" },
                    "token_type": { "const": "Bearer" },
                    "expires_in": { "type": "integer", "minimum": 0, "description": "seconds" },
                },
                "additionalProperties": false,
            } } },
        },
        "OAuthError": with_schema("invalid_request or unsupported_grant_type", "OAuthError"),
        "OAuthInvalidClient": {
            "description": "invalid_client: any credential failure",
            "headers": { "WWW-Authenticate": header("a Basic challenge") },
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/OAuthError" } } },
        },
    });
    match responses {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}
