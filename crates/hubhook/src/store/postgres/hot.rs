//! The SQL of the PostgreSQL store's webhook path (the general transaction, the batch path of new
//! orders, the outbox rows they queue), in one place so that the plan test below checks the very
//! statements that run: each must find its rows through an index that matches it, never by reading
//! a hotel's history (CONTRACT.md section 8: a webhook's cost does not grow with it).

/// An order's tasks in creation order (columns as `TASK_COLS`): index `tasks_by_order`.
pub(crate) const ORDER_TASKS: &str = "SELECT id, external_id, task_name, room, guest_name, \
     quantity, status, due_at, created_at, order_id, requested_at, department, priority, \
     escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived \
     FROM tasks WHERE hotel_id = $1 AND order_key = $2 ORDER BY seq";

/// [`ORDER_TASKS`], locked: a cancellation takes turns with a staff member moving one of them.
pub(crate) const ORDER_TASKS_LOCKED: &str = "SELECT id, external_id, task_name, room, \
     guest_name, quantity, status, due_at, created_at, order_id, requested_at, department, \
     priority, escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived \
     FROM tasks WHERE hotel_id = $1 AND order_key = $2 ORDER BY seq FOR UPDATE";

/// The tasks an order merged into, in the order it merged (columns as `TASK_COLS`): the unique
/// key of `task_orders`, then each task by id.
pub(crate) const ORDER_MERGED_TASKS: &str = "SELECT t.id, t.external_id, t.task_name, t.room, \
     t.guest_name, t.quantity, t.status, t.due_at, t.created_at, t.order_id, t.requested_at, \
     t.department, t.priority, t.escalations, t.order_ids, \
     (SELECT u.email FROM users u WHERE u.id = t.assignee_id), t.archived \
     FROM task_orders s JOIN tasks t ON t.id = s.task_id \
     WHERE s.hotel_id = $1 AND s.order_key = $2 AND s.merged ORDER BY s.seq";

/// [`ORDER_MERGED_TASKS`], the tasks locked.
pub(crate) const ORDER_MERGED_TASKS_LOCKED: &str = "SELECT t.id, t.external_id, t.task_name, \
     t.room, t.guest_name, t.quantity, t.status, t.due_at, t.created_at, t.order_id, \
     t.requested_at, t.department, t.priority, t.escalations, t.order_ids, \
     (SELECT u.email FROM users u WHERE u.id = t.assignee_id), t.archived \
     FROM task_orders s JOIN tasks t ON t.id = s.task_id \
     WHERE s.hotel_id = $1 AND s.order_key = $2 AND s.merged ORDER BY s.seq FOR UPDATE OF t";

/// Every order's share of the order's tasks that orders share (read once those tasks are locked):
/// `task_orders_by_task`.
pub(crate) const ORDER_SHARES: &str = "SELECT s.task_id, s.order_key, s.quantity, s.cancelled \
     FROM task_orders mine JOIN task_orders s ON s.task_id = mine.task_id \
     WHERE mine.hotel_id = $1 AND mine.order_key = $2 ORDER BY s.seq";

/// The task holding a room's and service's merge slot, locked (columns as `TASK_COLS`, then its
/// order's key, when its latest order arrived, whether an order merged into it):
/// `tasks_merge_slot`. Two orders merging into it take turns; the second sees the first's quantity.
pub(crate) const SLOT_HOLDER: &str = "SELECT id, external_id, task_name, room, guest_name, \
     quantity, status, due_at, created_at, order_id, requested_at, department, priority, \
     escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived, order_key, \
     coalesce(merged_at, created_at), merged_at IS NOT NULL \
     FROM tasks WHERE hotel_id = $1 AND room = $2 AND external_id = $3 \
     AND merge_slot AND status IN ('open', 'accepted')";

/// [`SLOT_HOLDER`], locked for the webhook's transaction.
pub(crate) const SLOT_HOLDER_LOCKED: &str = "SELECT id, external_id, task_name, room, guest_name, \
     quantity, status, due_at, created_at, order_id, requested_at, department, priority, \
     escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived, order_key, \
     coalesce(merged_at, created_at), merged_at IS NOT NULL \
     FROM tasks WHERE hotel_id = $1 AND room = $2 AND external_id = $3 \
     AND merge_slot AND status IN ('open', 'accepted') FOR UPDATE";

/// A slot holder whose window passed gives the slot up to the new task that takes it over.
pub(crate) const RELEASE_SLOT: &str = "UPDATE tasks SET merge_slot = false WHERE id = $1";

/// A task's new quantity; with `order_ids`, an order merged in at `$4`.
pub(crate) const SET_QUANTITY: &str = "UPDATE tasks SET quantity = $2, \
     order_ids = coalesce($3, order_ids), \
     merged_at = CASE WHEN $3::text IS NULL THEN merged_at ELSE $4 END, updated_at = $4 \
     WHERE id = $1";

/// One order's share of a merged task.
pub(crate) const INSERT_SHARE: &str =
    "INSERT INTO task_orders (hotel_id, order_key, task_id, order_id, quantity, merged, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A cancelled order's share of a merged task.
pub(crate) const CANCEL_SHARE: &str = "UPDATE task_orders SET cancelled = true \
     WHERE hotel_id = $1 AND order_key = $2 AND task_id = $3";

/// The configuration version and the order's state, in one round trip.
pub(crate) const VERSION_AND_ORDER_STATE: &str =
    "SELECT (SELECT config_version FROM hotels WHERE id = $1),
                (SELECT state FROM orders WHERE hotel_id = $1 AND order_key = $2)";

/// Remembers an order (the idempotency key).
pub(crate) const INSERT_ORDER: &str =
    "INSERT INTO orders (hotel_id, order_key, order_id, reservation_id, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)";

/// One line of a task's history.
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
         VALUES ($1, $2, $3, $4, $5, $6)";

/// A new task and the first line of its history, in one statement; the task's place on the board
/// is its due time, or its creation when it has none.
pub(crate) const INSERT_TASK: &str = "WITH t AS (
             INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, reservation_id,
                 external_id, task_name, room, guest_name, quantity, status, department, notes,
                 language, requested_at, due_at, created_at, updated_at, escalate_at, merge_slot,
                 board_at, later_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13, $14, $15, $16,
                 $17, $17, $19, $20, coalesce($16, $17), $21)
             RETURNING id)
         INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
         SELECT id, $17, $18, NULL, 'open', NULL FROM t";

/// What earlier events said about a reservation.
pub(crate) const LOAD_CONTEXT: &str =
    "SELECT room, first_name, last_name, language, check_in, check_out
         FROM reservations WHERE hotel_id = $1 AND reservation_id = $2";

/// Keeps what an event says about a reservation.
pub(crate) const UPSERT_CONTEXT: &str =
    "INSERT INTO reservations AS r (hotel_id, reservation_id, room, first_name, last_name,
             language, check_in, check_out, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (hotel_id, reservation_id) DO UPDATE SET
             room = coalesce(excluded.room, r.room),
             first_name = coalesce(excluded.first_name, r.first_name),
             last_name = coalesce(excluded.last_name, r.last_name),
             language = coalesce(excluded.language, r.language),
             check_in = coalesce(excluded.check_in, r.check_in),
             check_out = coalesce(excluded.check_out, r.check_out),
             updated_at = excluded.updated_at";

/// The inbound log's entry for every delivery (refusals too).
pub(crate) const INSERT_INBOUND: &str =
    "INSERT INTO inbound (hotel_id, received_at, event, code, details, task_ids, body, duration_us,
             replay_of)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// A task's new status (a cancelled order's tasks, which have nothing left to escalate), by id,
/// with when it was finished (`$4`, `TaskStatus::done_at`).
pub(crate) const MOVE_TASK: &str =
    "UPDATE tasks SET status = $3, updated_at = $2, escalate_at = NULL, done_at = $4
     WHERE id = $1";

/// Tells the other instances what changed, with the commit.
pub(crate) const ANNOUNCE: &str =
    "SELECT pg_notify(n.c, n.p) FROM unnest($1::text[], $2::text[]) AS n(c, p)";

/// Whether any hotel of a batch of new orders has a subscription: one probe of
/// `subscriptions_by_hotel` per hotel (`OFFSET 0` keeps the probe a subplan; `hotel_id = ANY($1)
/// LIMIT 1` was planned as a scan of every hotel's subscriptions, stopped at the first match).
pub(crate) const BATCH_SUBSCRIBED: &str = "SELECT 1 FROM unnest($1::text[]) AS h(id)
     WHERE EXISTS (SELECT 1 FROM subscriptions sub WHERE sub.hotel_id = h.id AND sub.enabled
                   OFFSET 0)
     LIMIT 1";

/// A batch of new orders, their tasks, history, context and inbound entries, in one statement.
pub(crate) const INSERT_NEW_ORDERS: &str = "WITH
         -- Orders with a task that would take a merge slot some task holds: handed back, for the
         -- general path to decide whether they merge. Probed per slot through tasks_merge_slot
         -- (OFFSET 0: a probe, not a join that may read every hotel's open tasks).
         held AS (
             SELECT p.hotel_id, p.order_key
             FROM unnest($44::text[], $45::text[], $46::text[], $47::text[])
                 AS p(hotel_id, order_key, room, external_id)
             WHERE EXISTS (
                   SELECT 1 FROM tasks x
                   WHERE x.hotel_id = p.hotel_id AND x.room = p.room
                     AND x.external_id = p.external_id
                     AND x.merge_slot AND x.status IN ('open', 'accepted')
                   OFFSET 0)),
         o AS (
             INSERT INTO orders (hotel_id, order_key, order_id, reservation_id, state, created_at)
             SELECT s.hotel_id, s.order_key, s.order_id, s.reservation_id, s.state, s.created_at
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[],
                     $38::text[])
                 AS s(hotel_id, order_key, order_id, reservation_id, created_at, version, state)
             -- Decided with the hotel's current configuration only (its own version), probed per
             -- order by the hotel's key (OFFSET 0: not a join that may read every hotel).
             WHERE EXISTS (
                   SELECT 1 FROM hotels h WHERE h.id = s.hotel_id AND h.config_version = s.version
                   OFFSET 0)
               -- Without the outbox's transaction: only for hotels without a subscription as of
               -- this statement (one added since the check is seen here; its order is handed back).
               -- OFFSET 0: probed per order through subscriptions_by_hotel, not joined against
               -- every hotel's subscriptions.
               AND ($37::bool OR NOT EXISTS (
                   SELECT 1 FROM subscriptions sub WHERE sub.hotel_id = s.hotel_id AND sub.enabled
                   OFFSET 0))
               AND NOT EXISTS (
                   SELECT 1 FROM held WHERE held.hotel_id = s.hotel_id
                                        AND held.order_key = s.order_key)
             ON CONFLICT (hotel_id, order_key) DO NOTHING
             RETURNING hotel_id, order_key),
         t AS (
             INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, reservation_id,
                 external_id, task_name, room, guest_name, quantity, status, department, notes,
                 language, requested_at, due_at, created_at, updated_at, escalate_at, merge_slot,
                 board_at, later_until)
             SELECT d.id, d.hotel_id, d.order_key, d.item_key, d.order_id, d.reservation_id,
                 d.external_id, d.task_name, d.room, d.guest_name, d.quantity, 'open', d.department,
                 d.notes, d.language, d.requested_at, d.due_at, d.created_at, d.created_at,
                 d.escalate_at, d.merge_slot, coalesce(d.due_at, d.created_at), d.later_until
             FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
                     $18::text[], $19::text[], $20::text[], $21::text[], $22::int4[], $23::text[],
                     $24::int4[], $42::text[], $43::bool[], $48::text[])
                 AS d(id, hotel_id, order_key, item_key, order_id, reservation_id, external_id,
                     task_name, room, guest_name, department, notes, language, requested_at,
                     due_at, quantity, created_at, n, escalate_at, merge_slot, later_until)
             JOIN o ON o.hotel_id = d.hotel_id AND o.order_key = d.order_key
             ORDER BY d.n
             RETURNING id, created_at),
         e AS (
             INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT id, created_at, 'duve', NULL, 'open', NULL FROM t),
         r AS (
             INSERT INTO reservations AS r (hotel_id, reservation_id, room, first_name,
                 last_name, language, check_in, check_out, updated_at)
             SELECT c.hotel_id, c.reservation_id, c.room, c.first_name, c.last_name, c.language,
                 c.check_in, c.check_out, w.updated_at
             FROM unnest($25::text[], $26::text[], $27::text[], $28::text[], $29::text[],
                     $30::text[], $31::text[], $39::text[], $40::text[])
                 AS c(hotel_id, order_key, reservation_id, room, first_name, last_name, language,
                     check_in, check_out),
                 LATERAL (SELECT s.created_at AS updated_at
                          FROM unnest($2::text[], $5::text[]) AS s(order_key, created_at)
                          WHERE s.order_key = c.order_key LIMIT 1) AS w
             WHERE EXISTS (SELECT 1 FROM o WHERE o.hotel_id = c.hotel_id
                                              AND o.order_key = c.order_key)
             ON CONFLICT (hotel_id, reservation_id) DO UPDATE SET
                 room = coalesce(excluded.room, r.room),
                 first_name = coalesce(excluded.first_name, r.first_name),
                 last_name = coalesce(excluded.last_name, r.last_name),
                 language = coalesce(excluded.language, r.language),
                 check_in = coalesce(excluded.check_in, r.check_in),
                 check_out = coalesce(excluded.check_out, r.check_out),
                 updated_at = excluded.updated_at),
         i AS (
             INSERT INTO inbound (hotel_id, received_at, event, code, details, task_ids, body,
                 duration_us)
             -- No details: only a refusal has some, and a refused order is not batched.
             SELECT b.hotel_id, b.received_at, b.event, b.code, '[]', b.task_ids, b.body,
                 b.duration_us
             FROM unnest($1::text[], $2::text[], $32::text[], $33::text[], $34::text[],
                     $35::text[], $36::int8[], $41::text[])
                 AS b(hotel_id, order_key, received_at, event, task_ids, body, duration_us, code)
             JOIN o ON o.hotel_id = b.hotel_id AND o.order_key = b.order_key
             ORDER BY b.received_at)
         SELECT hotel_id, order_key FROM o";

/// The hotel's enabled subscriptions, for the outbox rows a task change raises.
pub(crate) const ENQUEUE_SUBSCRIPTIONS: &str =
    "SELECT id, kind, events, template FROM subscriptions WHERE hotel_id = $1 AND enabled";

/// A task's order and reservation, for a Duve Connect body.
pub(crate) const TASK_ORDER_REFS: &str = "SELECT order_id, reservation_id FROM tasks WHERE id = $1";

/// A hotel's timezone, for a chat line's times.
pub(crate) const HOTEL_TIMEZONE: &str = "SELECT timezone FROM hotels WHERE id = $1";

/// Who wrote a task's newest history line (who made the change being queued), for a chat line.
pub(crate) const TASK_LAST_ACTOR: &str =
    "SELECT actor FROM task_events WHERE task_id = $1 ORDER BY seq DESC LIMIT 1";

/// One outbound delivery, queued in the transaction of the change that raised it.
pub(crate) const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (id, hotel_id, subscription_id, task_id, event, payload,
                     status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)";

/// Every statement a webhook runs, by name: what the plan test checks.
#[cfg_attr(not(all(test, hubhook_pg_tests)), allow(dead_code))]
pub(crate) const HOT_PATH_STATEMENTS: &[(&str, &str)] = &[
    ("ORDER_TASKS", ORDER_TASKS),
    ("ORDER_TASKS_LOCKED", ORDER_TASKS_LOCKED),
    ("ORDER_MERGED_TASKS", ORDER_MERGED_TASKS),
    ("ORDER_MERGED_TASKS_LOCKED", ORDER_MERGED_TASKS_LOCKED),
    ("ORDER_SHARES", ORDER_SHARES),
    ("SLOT_HOLDER", SLOT_HOLDER),
    ("SLOT_HOLDER_LOCKED", SLOT_HOLDER_LOCKED),
    ("RELEASE_SLOT", RELEASE_SLOT),
    ("SET_QUANTITY", SET_QUANTITY),
    ("INSERT_SHARE", INSERT_SHARE),
    ("CANCEL_SHARE", CANCEL_SHARE),
    ("VERSION_AND_ORDER_STATE", VERSION_AND_ORDER_STATE),
    ("INSERT_ORDER", INSERT_ORDER),
    ("INSERT_EVENT", INSERT_EVENT),
    ("INSERT_TASK", INSERT_TASK),
    ("LOAD_CONTEXT", LOAD_CONTEXT),
    ("UPSERT_CONTEXT", UPSERT_CONTEXT),
    ("INSERT_INBOUND", INSERT_INBOUND),
    ("MOVE_TASK", MOVE_TASK),
    ("ANNOUNCE", ANNOUNCE),
    ("BATCH_SUBSCRIBED", BATCH_SUBSCRIBED),
    ("INSERT_NEW_ORDERS", INSERT_NEW_ORDERS),
    ("ENQUEUE_SUBSCRIPTIONS", ENQUEUE_SUBSCRIPTIONS),
    ("TASK_ORDER_REFS", TASK_ORDER_REFS),
    ("HOTEL_TIMEZONE", HOTEL_TIMEZONE),
    ("TASK_LAST_ACTOR", TASK_LAST_ACTOR),
    ("INSERT_DELIVERY", INSERT_DELIVERY),
];

/// Indexes that lead with `hotel_id` and then only order a hotel's rows: scanning one of them reads
/// a hotel's history, whatever the planner estimates.
#[cfg_attr(not(all(test, hubhook_pg_tests)), allow(dead_code))]
pub(crate) const HOTEL_RANGE_INDEXES: &[&str] =
    &["tasks_by_hotel", "inbound_by_hotel", "deliveries_by_hotel"];

/// Tables that stay small whatever the number of hotels or their history.
#[cfg_attr(not(all(test, hubhook_pg_tests)), allow(dead_code))]
pub(crate) const SMALL_TABLES: &[&str] = &["meta"];

/// Needs `HUBHOOK_TEST_POSTGRES_URL` (read when the tests are built, as for `tests/api_pg`): a
/// schema of its own, seeded with one hotel's long history and a thousand small hotels, analysed.
#[cfg(all(test, hubhook_pg_tests))]
mod tests;
