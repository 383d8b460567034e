//! OpenAPI links: where one operation's answer yields the id another operation takes (a created
//! task's id, a listed delivery's id), so a client, or a tool walking the API, can follow them.

use utoipa::{
    Modify,
    openapi::{OpenApi, RefOr, extensions::Extensions, link::Link, path::Operation},
};

/// One link: from an operation's answer with a status, named, to an operation, with its `id` read
/// from the answer at a JSON pointer.
struct LinkSpec {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    id_at: &'static str,
}

const fn link(
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    id_at: &'static str,
) -> LinkSpec {
    LinkSpec {
        from,
        status,
        name,
        to,
        id_at,
    }
}

/// Every link of the document, by operation id.
const LINKS: &[LinkSpec] = &[
    link("create_task", "201", "GetTask", "task_detail", "/id"),
    link("create_task", "201", "MoveTask", "move_task", "/id"),
    link("task_detail", "200", "MoveTask", "move_task", "/id"),
    link("move_task", "200", "GetTask", "task_detail", "/id"),
    link("move_task", "200", "MoveTaskAgain", "move_task", "/id"),
    link(
        "list_tasks",
        "200",
        "GetFirstTask",
        "task_detail",
        "/tasks/0/id",
    ),
    link(
        "list_tasks",
        "200",
        "MoveFirstTask",
        "move_task",
        "/tasks/0/id",
    ),
    link(
        "duve",
        "201",
        "GetCreatedTask",
        "task_detail",
        "/tasks/0/id",
    ),
    link("duve", "201", "MoveCreatedTask", "move_task", "/tasks/0/id"),
    link(
        "create_webhook",
        "201",
        "RotateSecret",
        "rotate_webhook_secret",
        "/id",
    ),
    link(
        "create_webhook",
        "201",
        "RemoveWebhook",
        "remove_webhook",
        "/id",
    ),
    link(
        "rotate_webhook_secret",
        "200",
        "RemoveWebhook",
        "remove_webhook",
        "/id",
    ),
    link(
        "list_webhooks",
        "200",
        "RotateFirstSecret",
        "rotate_webhook_secret",
        "/subscriptions/0/id",
    ),
    link(
        "list_webhooks",
        "200",
        "RemoveFirstWebhook",
        "remove_webhook",
        "/subscriptions/0/id",
    ),
    link(
        "list_deliveries",
        "200",
        "GetFirstDelivery",
        "delivery",
        "/deliveries/0/id",
    ),
    link(
        "list_deliveries",
        "200",
        "ReplayFirstDelivery",
        "replay_delivery",
        "/deliveries/0/id",
    ),
    link(
        "delivery",
        "200",
        "ReplayDelivery",
        "replay_delivery",
        "/id",
    ),
    link("replay_delivery", "202", "GetDelivery", "delivery", "/id"),
    link(
        "inbound",
        "200",
        "ReplayFirstEntry",
        "replay",
        "/entries/0/id",
    ),
];

/// Adds [`LINKS`] to the document's answers.
pub struct Links;

fn operations(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

impl Modify for Links {
    fn modify(&self, doc: &mut OpenApi) {
        for op in operations(doc) {
            let Some(id) = op.operation_id.clone() else {
                continue;
            };
            for l in LINKS.iter().filter(|l| l.from == id) {
                if let Some(RefOr::T(answer)) = op.responses.responses.get_mut(l.status) {
                    // utoipa 5.5 would write `operation_id` (its Link lacks serde's camelCase):
                    // the field goes in through the extensions, which are written as given.
                    let target = Link::builder()
                        .parameter("id", format!("$response.body#{}", l.id_at))
                        .extensions(Some(Extensions::from_iter([("operationId", l.to)])))
                        .build();
                    answer.links.insert(l.name.to_owned(), RefOr::T(target));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Each link starts at an answer the document has and ends at an operation that takes `id` in
    /// its path; and the id is where the answer's schema says (checked by the API tests that walk
    /// them with Schemathesis, scripts/schemathesis).
    #[test]
    fn every_link_joins_two_operations_of_the_document() {
        let doc = serde_json::to_value(crate::http::openapi()).unwrap();
        let ops: Vec<&Value> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .collect();
        let op = |id: &str| {
            ops.iter()
                .find(|o| o["operationId"] == id)
                .unwrap_or_else(|| panic!("no operation {id}"))
        };
        for l in LINKS {
            let answer = &op(l.from)["responses"][l.status];
            assert_eq!(
                answer["links"][l.name]["operationId"], l.to,
                "{} {}",
                l.from, l.name
            );
            let takes_id = op(l.to)["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "id" && p["in"] == "path"));
            assert!(takes_id, "{} takes no id", l.to);
        }
    }
}
